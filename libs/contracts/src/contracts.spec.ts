import {
  benchStepSchema,
  DeploymentChangedContract,
  DescribeModelReply,
  encodeMessage,
  engineOptionsSchema,
  jobResultSchemas,
  JobResultRejectedError,
  JobStatusLookup,
  parseJobResult,
  RegistryLookups,
  LeaseAcquireContract,
  LeaseReleaseContract,
  PROBLEM_CONTENT_TYPE,
  SCHEMA_VERSION,
  Streams,
  Consumers,
  Subjects,
  validate,
} from './index';

const v = { schemaVersion: SCHEMA_VERSION };

describe('lease payloads', () => {
  it('accept a well-formed acquire and bound its ttl', () => {
    const ok = {
      ...v,
      requestId: 'req-12345',
      node: 'gpu-a',
      holder: 'bench:j1',
      priority: 'bench' as const,
      ttlMs: 3000,
      waitMs: 1000,
    };
    expect(validate(LeaseAcquireContract, ok)).toEqual(ok);
    expect(validate(LeaseAcquireContract, { ...ok, node: 'host-1:0' }).node).toBe('host-1:0');
    const { node: _node, ...withoutNode } = ok;
    expect(() => validate(LeaseAcquireContract, withoutNode)).toThrow(/node/);
    expect(() => validate(LeaseAcquireContract, { ...ok, node: 'no spaces' })).toThrow(/node/);
    expect(() => validate(LeaseAcquireContract, { ...ok, ttlMs: 50 })).toThrow(/ttlMs/);
    expect(() => validate(LeaseAcquireContract, { ...ok, priority: 'urgent' })).toThrow(/priority/);
  });

  it('refuse a release that names neither a lease nor a request', () => {
    expect(() => validate(LeaseReleaseContract, { ...v })).toThrow(/leaseId or requestId/);
    expect(validate(LeaseReleaseContract, { ...v, leaseId: 'lease-1234' }).leaseId).toBe('lease-1234');
  });
});

describe('deployment and registry payloads', () => {
  it('refuse a model name that could escape a URL path', () => {
    const ok = { ...v, action: 'deploy' as const, deploymentId: 'd1', modelName: 'm-1.v2' };
    expect(() => encodeMessage(DeploymentChangedContract, ok)).not.toThrow();
    expect(() => encodeMessage(DeploymentChangedContract, { ...ok, modelName: '../etc' })).toThrow(/modelName/);
  });

  it('carry only a hash of a scratch deployment credential, never the credential', () => {
    const ok = { ...v, action: 'deploy' as const, deploymentId: 'd1', modelName: 'scratch-1', scratch: true };
    const sha = 'ab'.repeat(32);
    expect(() => encodeMessage(DeploymentChangedContract, { ...ok, scratchCredentialSha256: sha })).not.toThrow();
    for (const bad of ['a-raw-bearer-credential', 'AB'.repeat(32), sha.slice(1)])
      expect(() => encodeMessage(DeploymentChangedContract, { ...ok, scratchCredentialSha256: bad })).toThrow(
        /scratchCredentialSha256/,
      );
  });

  it('keep symbolic dims as strings in model versions', () => {
    const reply = {
      ...v,
      found: true,
      model: {
        id: 'm1',
        name: 'yolo',
        task: 'detect' as const,
        latestVersion: 1,
        versions: [
          {
            version: 1,
            onnxPath: '/d/model.onnx',
            sourcePath: null,
            sourceFormat: 'onnx' as const,
            trained: false,
            createdAt: 'now',
            metadata: { inputs: [{ shape: ['batch', 3, 640, 640] }] },
          },
        ],
      },
    };
    expect(validate(DescribeModelReply, reply).model?.versions[0].metadata).toEqual({
      inputs: [{ shape: ['batch', 3, 640, 640] }],
    });
    expect(() => validate(DescribeModelReply, { ...reply, model: { ...reply.model, task: 'segment' } })).toThrow(
      /task/,
    );
  });

  it('fill engine option defaults', () => {
    expect(engineOptionsSchema.parse({})).toEqual({
      provider: 'cpu',
      precision: 'fp32',
      graphOptimization: 'all',
      threads: 0,
      maxBatch: 1,
    });
    expect(() => engineOptionsSchema.parse({ provider: 'rocm' })).toThrow();
  });
});

describe('bench report steps', () => {
  it('require a reason-bearing status', () => {
    expect(() => benchStepSchema.parse({})).toThrow();
  });
});

describe('names', () => {
  it('derive stream and consumer names from the job type', () => {
    expect(Streams.jobs('bench')).toBe('CVP_JOBS_BENCH');
    expect(Consumers.worker('train')).toBe('cvp-train-workers');
    expect(Subjects.jobCancel('j1')).toBe('cvp.jobs.j1.cancel');
    expect(PROBLEM_CONTENT_TYPE).toBe('application/problem+json');
  });
});

describe('job results', () => {
  const packageResult = {
    packageId: `pkg-${'ab'.repeat(12)}`,
    modelId: 'm1',
    modelVersion: 1,
    engine: 'native',
    engineConfig: { engine: 'native', options: {}, modelPath: 'model.onnx' },
    selected: false,
    variant: 'cpu',
    benchmarkId: null,
    tarballPath: 'packages/p/x.tar.gz',
    bundlePath: 'packages/p/bundle',
    sha256: 'f'.repeat(64),
    sizeBytes: 10,
    fileCount: 2,
  };

  it('parse a result of its type, filling engine option defaults', () => {
    expect(parseJobResult('package', packageResult).engineConfig.options).toMatchObject({
      provider: 'cpu',
      threads: 0,
    });
    expect(Object.keys(jobResultSchemas).sort()).toEqual(['bench', 'convert', 'package', 'train', 'tune']);
  });

  it('reject a result with an error that names each wrong, missing or unknown field', () => {
    const bad = { ...packageResult, sizeBytes: 'ten', fileCount: undefined, extra: 1 };
    let err: unknown;
    try {
      parseJobResult('package', bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JobResultRejectedError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^package result rejected: /);
    expect(msg).toContain('sizeBytes: Expected number, received string');
    expect(msg).toContain('fileCount: Required');
    expect(msg).toContain("Unrecognized key(s) in object: 'extra'");
    expect(() => parseJobResult('convert', { modelId: 'm1', version: 0 })).toThrow(/convert result rejected: version/);
  });

  it('name the subject and both payloads of each lookup', () => {
    expect(RegistryLookups.describeModel.subject).toBe('cvp.registry.model.describe');
    expect(RegistryLookups.latestBenchmark.reply.name).toBe('registry.benchmark.latest.res');
    expect(JobStatusLookup).toMatchObject({ subject: Subjects.jobStatus, request: { name: 'job.status.req' } });
  });
});
