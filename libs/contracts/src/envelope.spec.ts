import { ContractViolationError, decodeMessage, encodeMessage, SCHEMA_VERSION } from './envelope';
import { JobDispatchContract, JobEventContract, jobInputSchemas } from './jobs';
import { Subjects } from './subjects';

const dispatch = {
  schemaVersion: SCHEMA_VERSION,
  jobId: 'j1',
  type: 'bench' as const,
  ownerId: 'u1',
  input: { modelId: 'm1' },
};

describe('message contracts', () => {
  it('round-trips a valid payload', () => {
    expect(decodeMessage(JobDispatchContract, encodeMessage(JobDispatchContract, dispatch))).toEqual(dispatch);
  });

  it('refuses a payload without the schema version, naming the field', () => {
    const { schemaVersion: _omit, ...bad } = dispatch;
    expect(() => encodeMessage(JobDispatchContract, bad as never)).toThrow(/schemaVersion/);
  });

  it('refuses unknown fields and a wrong schema version on receive', () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ ...dispatch, schemaVersion: 2, extra: 1 }));
    try {
      decodeMessage(JobDispatchContract, bytes);
      throw new Error('should have thrown');
    } catch (e) {
      expect(e).toBeInstanceOf(ContractViolationError);
      const issues = (e as ContractViolationError).issues.join(' ');
      expect(issues).toMatch(/schemaVersion/);
      expect(issues).toMatch(/extra/);
    }
  });

  it('refuses bytes that are not JSON', () => {
    expect(() => decodeMessage(JobEventContract, new TextEncoder().encode('{nope'))).toThrow(/not JSON/);
  });

  it('bounds job progress to [0, 1]', () => {
    const ev = { schemaVersion: SCHEMA_VERSION, jobId: 'j', seq: 0, at: new Date().toISOString(), progress: 1.5 };
    expect(() => encodeMessage(JobEventContract, ev)).toThrow(/progress/);
  });
});

describe('job inputs (the payloads of POST /jobs/:type)', () => {
  it('fills defaults and refuses unknown fields', () => {
    expect(jobInputSchemas.bench.parse({ modelId: 'm' })).toEqual({ modelId: 'm', constraints: {} });
    expect(() => jobInputSchemas.convert.parse({ modelId: 'm', force: true })).toThrow(/force/);
  });

  it('validates train ranges', () => {
    const ok = { modelId: 'm', datasetId: 'd', epochs: 1, imgsz: 64, batch: 2, device: 'cpu', seed: 1 };
    expect(jobInputSchemas.train.parse(ok)).toEqual(ok);
    expect(() => jobInputSchemas.train.parse({ ...ok, imgsz: 65 })).toThrow();
    expect(() => jobInputSchemas.train.parse({ ...ok, device: 'gpu' })).toThrow(/CUDA device index/);
  });

  it('accepts each tune strategy and refuses others', () => {
    const base = { modelId: 'm', datasetId: 'd', trials: 2, epochs: 1, imgsz: 64, device: 'cpu', seed: 0 };
    for (const s of ['ga', 'nsga2', 'tpe', 'cmaes', 'random'])
      expect(jobInputSchemas.tune.parse({ ...base, strategy: s }).strategy).toBe(s);
    expect(() => jobInputSchemas.tune.parse({ ...base, strategy: 'grid' })).toThrow();
  });
});

describe('subjects', () => {
  it('follow cvp.<domain>.<verb>', () => {
    expect(Subjects.jobDispatch('train')).toBe('cvp.jobs.train.dispatch');
    expect(Subjects.jobProgress('abc')).toBe('cvp.jobs.abc.progress');
    expect(Subjects.leaseAcquire).toBe('cvp.gpu.lease.acquire');
  });
});
