import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PermanentJobError } from '@cvp/jobs';
import type { MessageBus } from '@cvp/platform';
import {
  benchmarkFacts,
  composeConfigCheck,
  connectBus,
  extractTarball,
  jobContext,
  makeYoloModel,
  modelFacts,
  packagerConfig,
  platformSnapshot,
  scratchDir,
  serveRegistry,
} from '../testing/fixtures';
import type { PackagerConfig } from '../config';
import { BundleAssembler } from './bundle-assembler.service';
import { PackageJobHandler } from './package-job.handler';
import { PackageWriter } from './package-writer.service';
import {
  type BenchmarkDescription as BenchmarkFacts,
  type ModelDescription as ModelFacts,
  RegistryClient,
} from '@cvp/jobs';

/** Real nats-server, real ONNX, real files, real tar/sha256sum/docker-compose; only the gateway's registry is a test double. */
describe('package job (real NATS, real ONNX model, registry test double)', () => {
  let bus: MessageBus;
  let stopRegistry: () => void;
  let dataDir: string;
  let config: PackagerConfig;
  let handler: PackageJobHandler;
  const facts = new Map<string, { model: ModelFacts; benchmark: BenchmarkFacts | null }>();
  const selected = {
    engine: 'ort-node' as const,
    options: {
      provider: 'cpu' as const,
      precision: 'fp32' as const,
      graphOptimization: 'all' as const,
      threads: 2,
      maxBatch: 1,
    },
    modelPath: '',
  };

  beforeAll(async () => {
    const dir = scratchDir('packager');
    dataDir = path.join(dir, 'data');
    const onnx = makeYoloModel(path.join(dataDir, 'models', 'pk-m1', 'v1'));
    const reportDir = path.join(dataDir, 'benchmarks', 'pk-b1');
    mkdirSync(reportDir, { recursive: true });
    writeFileSync(path.join(reportDir, 'report.json'), JSON.stringify({ benchmarkId: 'pk-b1', steps: [] }));
    writeFileSync(
      path.join(reportDir, 'decision.json'),
      JSON.stringify({ summary: 'ort-node cpu fp32 had the lowest p95 within every constraint' }),
    );
    writeFileSync(path.join(reportDir, 'simple.html'), '<p>verdict</p>');
    selected.modelPath = onnx;
    facts.set('pk-m1', {
      model: modelFacts('pk-m1', onnx),
      benchmark: benchmarkFacts('pk-b1', 'pk-m1', reportDir, selected),
    });
    facts.set('pk-m2', { model: modelFacts('pk-m2', onnx), benchmark: null });
    facts.set('pk-m3', {
      model: modelFacts('pk-m3', onnx),
      benchmark: benchmarkFacts('pk-b3', 'pk-m3', reportDir, {
        ...selected,
        options: { ...selected.options, provider: 'tensorrt' },
      }),
    });
    facts.set('pk-m4', { model: modelFacts('pk-m4', path.join(dir, 'outside.onnx')), benchmark: null });
    writeFileSync(path.join(dir, 'outside.onnx'), 'not in the data dir');

    config = packagerConfig({
      CVP_DATA_DIR: dataDir,
      CVP_PACKAGER_PLATFORM_ROOT: platformSnapshot(path.join(dir, 'platform')),
      CVP_PACKAGER_REGISTRY_TIMEOUT_MS: '1500',
    });
    bus = await connectBus('packager-test');
    stopRegistry = serveRegistry(bus, facts);
    handler = new PackageJobHandler(
      new RegistryClient(bus, config.CVP_PACKAGER_REGISTRY_TIMEOUT_MS),
      new BundleAssembler(config),
      new PackageWriter(config),
      config,
    );
  }, 240_000);

  afterAll(async () => {
    stopRegistry?.();
    await bus?.close();
  });

  let first: Record<string, unknown>;
  let firstBytes: Buffer;
  let bundle: string;

  it('writes a bundle folder and a tarball under packages/<packageId>/ and reports them in the result', async () => {
    const ctx = jobContext('job-pk-1');
    first = await handler.handle({ modelId: 'pk-m1', engine: 'selected', variant: 'cpu' }, ctx);
    expect(first.packageId).toMatch(/^pkg-[0-9a-f]{24}$/);
    expect(first).toMatchObject({
      modelId: 'pk-m1',
      modelVersion: 1,
      engine: 'ort-node',
      selected: true,
      variant: 'cpu',
      benchmarkId: 'pk-b1',
    });
    const tarball = path.join(dataDir, first.tarballPath as string);
    expect(first.tarballPath).toBe(`packages/${first.packageId}/cvp-bundle-${first.packageId}.tar.gz`);
    expect(statSync(tarball).size).toBe(first.sizeBytes);
    firstBytes = readFileSync(tarball);
    expect(execFileSync('sha256sum', [tarball], { encoding: 'utf8' }).split(' ')[0]).toBe(first.sha256);
    expect(existsSync(path.join(dataDir, first.bundlePath as string, 'MANIFEST.sha256'))).toBe(true);
    expect(ctx.updates.at(-1)).toMatchObject({ progress: 1, stage: 'done' });
    // nothing half-written is left beside it
    expect(readdirSync(path.join(dataDir, 'packages')).filter((n) => n.startsWith('.'))).toEqual([]);
    bundle = extractTarball(tarball, path.join(dataDir, '..', 'extracted'));
    expect(path.basename(bundle)).toBe(`cvp-bundle-${first.packageId}`);
  });

  it('the manifest verifies with sha256sum -c in the extracted bundle, and covers every file', () => {
    const r = spawnSync('sha256sum', ['-c', '--strict', 'MANIFEST.sha256'], { cwd: bundle, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const listed = readFileSync(path.join(bundle, 'MANIFEST.sha256'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.slice(66));
    const onDisk = execFileSync('find', ['.', '-type', 'f', '!', '-name', 'MANIFEST.sha256'], {
      cwd: bundle,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .map((p) => p.slice(2))
      .sort();
    expect(listed).toEqual(onDisk);
    // a changed byte is caught
    const model = path.join(bundle, 'model', 'model.onnx');
    const orig = readFileSync(model);
    writeFileSync(model, Buffer.concat([orig.subarray(0, orig.length - 1), Buffer.from([orig[orig.length - 1] ^ 1])]));
    expect(spawnSync('sha256sum', ['-c', '--quiet', 'MANIFEST.sha256'], { cwd: bundle }).status).not.toBe(0);
    writeFileSync(model, orig);
  });

  it('carries the model, engine config, model config, benchmark report and decision record, guide and env docs', () => {
    for (const f of [
      'Dockerfile.cpu',
      'Dockerfile.cuda',
      'docker-compose.yml',
      'entrypoint.sh',
      'run.sh',
      '.env.example',
      'DEPLOY.md',
      'model/model.onnx',
      'model/engine.json',
      'model/model-config.json',
      'reports/report.json',
      'reports/decision.json',
      'reports/simple.html',
      'app/package.json',
      'app/package-lock.json',
      'app/dist/apps/inference/src/main.js',
      'native/CMakeLists.txt',
      'native/proto/cvp_inference.proto',
      'gpu-ort/scripts/gpu-ort.sh',
      'gpu-ort/scripts/lib/gpu-ort.lock',
      'gpu-ort/deploy/cuda-libs.lock',
    ]) {
      expect(existsSync(path.join(bundle, f))).toBe(true);
    }
    const deployment = JSON.parse(readFileSync(path.join(bundle, 'model/model-config.json'), 'utf8'));
    expect(deployment).toMatchObject({
      schemaVersion: 1,
      action: 'deploy',
      // Served under the platform's name; the human name answers too.
      modelName: 'pk-m1',
      aliases: ['street-cams-v8n'],
      task: 'detect',
      config: { engine: 'ort-node', modelPath: 'model.onnx', options: { threads: 2 } },
    });
    expect(readFileSync(path.join(bundle, 'DEPLOY.md'), 'utf8')).toContain(
      'ort-node cpu fp32 had the lowest p95 within every constraint',
    );
    expect(readFileSync(path.join(bundle, '.env.example'), 'utf8')).toMatch(/^CVP_INFER_WORKERS=10$/m);
    // production dependencies only, and the lock pruned to them
    const pkg = JSON.parse(readFileSync(path.join(bundle, 'app/package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(path.join(bundle, 'app/package-lock.json'), 'utf8'));
    expect(pkg.devDependencies).toBeUndefined();
    expect(Object.keys(pkg.dependencies)).toEqual(
      expect.arrayContaining(['@nestjs/core', '@nestjs/platform-express', 'nats']),
    );
    for (const dev of ['jest', 'typescript', 'typeorm', 'sqlite3']) {
      expect(pkg.dependencies[dev]).toBeUndefined();
      expect(lock.packages[`node_modules/${dev}`]).toBeUndefined();
    }
    expect(Object.values(lock.packages as Record<string, { dev?: boolean }>).some((e) => e.dev)).toBe(false);
    expect(lock.packages['']).toEqual({ name: pkg.name, version: pkg.version, dependencies: pkg.dependencies });
    for (const [k, e] of Object.entries(lock.packages as Record<string, { resolved?: string; integrity?: string }>)) {
      if (k) expect(e.resolved).toMatch(/^https:\/\/registry\.npmjs\.org\/.+\.tgz$/);
    }
  });

  it('the generated docker-compose.yml passes `docker-compose config -q`, for the cpu and the cuda variant', async () => {
    const cpu = composeConfigCheck(path.join(bundle, 'docker-compose.yml'));
    expect(cpu.output).toBe('');
    expect(cpu.ok).toBe(true);
    const cudaResult = await handler.handle(
      { modelId: 'pk-m1', engine: 'selected', variant: 'cuda' },
      jobContext('job-pk-cuda'),
    );
    const cudaCompose = path.join(dataDir, cudaResult.bundlePath as string, 'docker-compose.yml');
    const cuda = composeConfigCheck(cudaCompose);
    expect(cuda.output).toBe('');
    expect(cuda.ok).toBe(true);
    const text = readFileSync(cudaCompose, 'utf8');
    expect(text).toMatch(/driver: nvidia/);
    expect(text).toMatch(/dockerfile: Dockerfile\.cuda/);
    expect(cudaResult.packageId).not.toBe(first.packageId);
  });

  it('Dockerfile.cpu, Dockerfile.cuda and run.sh start the same entrypoint script', () => {
    const entrypointOf = (dockerfile: string) => {
      const lines = readFileSync(path.join(bundle, dockerfile), 'utf8').split('\n');
      const ep = lines.filter((l) => l.startsWith('ENTRYPOINT '));
      expect(ep).toHaveLength(1);
      const argv = JSON.parse(ep[0].slice('ENTRYPOINT '.length)) as string[];
      const workdir = lines
        .filter((l) => l.startsWith('WORKDIR '))
        .at(-1)!
        .slice(8)
        .trim();
      const user = lines.filter((l) => l.startsWith('USER ')).at(-1);
      expect(user).toBeDefined();
      expect(user).not.toMatch(/USER (root|0)\b/);
      expect(
        lines.some(
          (l) =>
            l.startsWith('HEALTHCHECK ') &&
            readFileSync(path.join(bundle, dockerfile), 'utf8').includes('/v2/health/ready'),
        ),
      ).toBe(true);
      expect(lines.filter((l) => /^FROM /.test(l)).length).toBeGreaterThanOrEqual(3); // multi-stage
      expect(lines.some((l) => /npm ci --omit=dev/.test(l))).toBe(true);
      // The image copies entrypoint.sh into the WORKDIR: the ENTRYPOINT must be that copy.
      expect(lines.some((l) => /^COPY .*\bentrypoint\.sh\b.* \.\/$/.test(l))).toBe(true);
      return path.posix.relative(workdir, argv[0]);
    };
    const runSh = readFileSync(path.join(bundle, 'run.sh'), 'utf8');
    const execs = runSh.split('\n').filter((l) => /^exec /.test(l));
    expect(execs).toHaveLength(1);
    const fromRun = execs[0].match(/^exec "\$BUNDLE_DIR\/([^"]+)"$/)?.[1];
    expect(fromRun).toBe('entrypoint.sh');
    expect(entrypointOf('Dockerfile.cpu')).toBe(fromRun);
    expect(entrypointOf('Dockerfile.cuda')).toBe(fromRun);
    // The CUDA image gets ONNX Runtime's GPU build the platform's way (PyPI, gpu-ort.sh), not onnxruntime-node's NuGet download.
    const cudaFile = readFileSync(path.join(bundle, 'Dockerfile.cuda'), 'utf8');
    expect(cudaFile).toMatch(/bash scripts\/gpu-ort\.sh export \/opt\/ort-gpu/);
    expect(cudaFile).toMatch(
      /^COPY --from=gpu-ort \/opt\/ort-gpu\/ app\/node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/$/m,
    );
    expect(cudaFile).not.toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda/);
    expect(readFileSync(path.join(bundle, 'Dockerfile.cpu'), 'utf8')).not.toMatch(/gpu-ort/);
    expect(statSync(path.join(bundle, 'entrypoint.sh')).mode & 0o111).not.toBe(0);
    expect(spawnSync('sh', ['-n', path.join(bundle, 'entrypoint.sh')]).status).toBe(0);
    expect(spawnSync('sh', ['-n', path.join(bundle, 'run.sh')]).status).toBe(0);
  });

  it('packaging the same inputs twice gives a byte-identical tarball (and the same packageId)', async () => {
    const again = await handler.handle(
      { modelId: 'pk-m1', engine: 'selected', variant: 'cpu' },
      jobContext('job-pk-2'),
    );
    expect(again.packageId).toBe(first.packageId);
    const bytes = readFileSync(path.join(dataDir, again.tarballPath as string));
    expect(bytes.equals(firstBytes)).toBe(true);
    expect(again.sha256).toBe(first.sha256);
    // tar metadata is fixed: owners, modes, mtimes
    const listing = execFileSync('tar', ['-tvzf', path.join(dataDir, again.tarballPath as string), '--numeric-owner'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    for (const line of listing) expect(line).toMatch(/^(-rw-r--r--|-rwxr-xr-x|drwxr-xr-x) 0\/0 .* 2000-01-01 00:00 /);
    // gzip header: no name, no mtime
    expect(bytes.readUInt32LE(4)).toBe(0);
    expect(bytes[3] & 0x08).toBe(0);
  });

  it('an explicit engine packages the latest ONNX without a benchmark, and says so', async () => {
    const r = await handler.handle({ modelId: 'pk-m2', engine: 'native', variant: 'cpu' }, jobContext('job-pk-3'));
    expect(r).toMatchObject({ engine: 'native', selected: false, benchmarkId: null });
    const dir = path.join(dataDir, r.bundlePath as string);
    expect(readFileSync(path.join(dir, 'reports/README.md'), 'utf8')).toMatch(/No benchmark/);
    expect(JSON.parse(readFileSync(path.join(dir, 'model/engine.json'), 'utf8'))).toMatchObject({
      engine: 'native',
      options: { provider: 'cpu' },
    });
  });

  it('engine "selected" without a selection fails permanently with a clear message', async () => {
    await expect(
      handler.handle({ modelId: 'pk-m2', engine: 'selected', variant: 'cpu' }, jobContext('job-pk-4')),
    ).rejects.toThrow(
      new PermanentJobError(
        'engine "selected" needs a benchmark that selected an engine for model pk-m2, and there is none: run a bench job first, or package with engine "native" or "ort-node"',
      ),
    );
  });

  it('refuses a GPU selection in a CPU image, a model outside the data dir, and an unknown model', async () => {
    await expect(
      handler.handle({ modelId: 'pk-m3', engine: 'selected', variant: 'cpu' }, jobContext('j5')),
    ).rejects.toThrow(/provider tensorrt.*variant "cuda"/);
    await expect(
      handler.handle({ modelId: 'pk-m4', engine: 'ort-node', variant: 'cpu' }, jobContext('j6')),
    ).rejects.toThrow(/outside the data dir/);
    await expect(
      handler.handle({ modelId: 'pk-missing', engine: 'ort-node', variant: 'cpu' }, jobContext('j7')),
    ).rejects.toThrow(/model registry did not answer/);
  });

  it('a cancelled job stops and leaves no half-written package', async () => {
    const ac = new AbortController();
    ac.abort();
    const before = readdirSync(path.join(dataDir, 'packages')).sort();
    await expect(
      handler.handle({ modelId: 'pk-m2', engine: 'ort-node', variant: 'cuda' }, jobContext('j8', ac.signal)),
    ).rejects.toThrow(/cancelled/);
    expect(readdirSync(path.join(dataDir, 'packages')).sort()).toEqual(before);
  });
});
