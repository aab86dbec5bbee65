/**
 * Upload of each of the four formats, converted by the REAL trainer-bridge worker (compiled,
 * started here as a child process, running python/ over the real NATS of the test run),
 * validated and with metadata; plus a preset. Needs dist/apps/trainer-bridge and python/.venv:
 * without them this suite FAILS with the reason (it never skips silently).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { DescribeModelReply, DescribeModelRequest, type ModelFormat, Registry } from '@cvp/contracts';
import { MessageBus } from '@cvp/platform';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { uploadMultipart } from '../testing/upload-helpers';

const ROOT = path.resolve(__dirname, '../../../..');
const TRAINER_MAIN = path.join(ROOT, 'dist/apps/trainer-bridge/src/main.js');
const PYTHON = path.join(ROOT, 'python/.venv/bin/python');
const JOB_DEADLINE_MS = 10 * 60_000;

jest.setTimeout(25 * 60_000);

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

describe('model conversion of every format through the real trainer-bridge (e2e)', () => {
  let gw: GatewayTestApp;
  let worker: ChildProcess | undefined;
  let workerLog = '';
  let token: string;
  let sources: Record<string, string | { error: unknown }>;

  beforeAll(async () => {
    const missing = [
      !existsSync(TRAINER_MAIN) && `${path.relative(ROOT, TRAINER_MAIN)} (run: npx tsc -p tsconfig.build.json)`,
      !existsSync(PYTHON) && `${path.relative(ROOT, PYTHON)} (run the bootstrap: bash scripts/bootstrap.sh)`,
    ].filter(Boolean);
    if (missing.length)
      throw new Error(
        `conversion e2e needs the compiled trainer-bridge and the python venv; missing: ${missing.join('; ')}`,
      );

    const fixtures = mkdtempSync(path.join(process.env.CVP_TEST_DIR!, 'model-fixtures-'));
    const { stdout } = await promisify(execFile)(
      PYTHON,
      [path.join(__dirname, '../testing/fixtures/make_models.py'), fixtures],
      {
        cwd: path.join(ROOT, 'python'),
        timeout: 15 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
        env: {
          ...process.env,
          YOLO_OFFLINE: 'true',
          YOLO_AUTOINSTALL: 'false',
          YOLO_CONFIG_DIR: path.join(fixtures, 'yolo-config'),
          PYTHONPATH: path.join(ROOT, 'python'),
        },
      },
    );
    sources = JSON.parse(stdout.trim().split('\n').pop()!);

    gw = await startGatewayTestApp();
    token = await gw.login('engineer');
    const port = await freePort();
    worker = spawn(process.execPath, ['-r', './scripts/register-paths.js', TRAINER_MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        CVP_NATS_URL: process.env.CVP_NATS_URL,
        CVP_DATA_DIR: gw.dataDir,
        CVP_TRAINER_PORT: String(port),
        CVP_PYTHON: PYTHON,
        CVP_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => {
      workerLog = (workerLog + b.toString()).slice(-20_000);
    };
    worker.stdout!.on('data', keep);
    worker.stderr!.on('data', keep);
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (worker.exitCode !== null) throw new Error(`trainer-bridge exited with ${worker.exitCode}:\n${workerLog}`);
      const ok = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`trainer-bridge not ready within 90 s:\n${workerLog}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 20 * 60_000);

  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          worker!.kill('SIGKILL');
          r(undefined);
        }, 8000);
        worker!.once('exit', () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
    await gw?.close();
  });

  const waitForJob = async (id: string) => {
    const deadline = Date.now() + JOB_DEADLINE_MS;
    for (;;) {
      const job = (await (
        await fetch(`${gw.api}/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { state: string; error?: string; result?: Record<string, unknown> };
      if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
      if (Date.now() > deadline)
        throw new Error(`job ${id} still ${job.state} after ${JOB_DEADLINE_MS} ms\n${workerLog}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  const cases: { format: ModelFormat; task: 'detect' | 'classify'; inputShape?: string; compared: boolean }[] = [
    { format: 'onnx', task: 'classify', compared: false },
    { format: 'torchscript', task: 'classify', inputShape: '1,3,32,32', compared: true },
    { format: 'ultralytics', task: 'detect', inputShape: '1,3,64,64', compared: true },
    { format: 'tensorflow-savedmodel', task: 'classify', compared: true },
  ];

  it.each(cases)(
    '$format upload -> 202 -> convert job succeeds -> validated ONNX with metadata',
    async ({ format, task, inputShape, compared }) => {
      const src = sources[format];
      if (typeof src !== 'string') throw new Error(`could not make the ${format} fixture: ${JSON.stringify(src)}`);
      const r = await uploadMultipart(
        `${gw.api}/models`,
        token,
        { format, task, name: `e2e-${format}`, ...(inputShape ? { inputShape } : {}) },
        { name: path.basename(src), data: readFileSync(src) },
      );
      expect(r.status).toBe(202);
      const modelId = (r.body.model as { id: string }).id;
      const job = await waitForJob((r.body.job as { id: string }).id);
      if (job.state !== 'succeeded') throw new Error(`job ${job.state}: ${job.error}\n${workerLog}`);
      expect(job.result).toMatchObject({ modelId, version: 1 });

      const model = (await (
        await fetch(`${gw.api}/models/${modelId}`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as Record<string, unknown> & { versions: { converted: boolean; metadata: Record<string, unknown> }[] };
      expect(model).toMatchObject({ sourceFormat: format, task, latestVersion: 1 });
      expect((model.inputs as unknown[]).length).toBeGreaterThan(0);
      expect((model.outputs as { dtype: string; shape: unknown[] }[])[0]).toMatchObject({
        dtype: expect.any(String),
        shape: expect.any(Array),
      });
      expect(model.opset).toEqual(expect.any(Number));
      expect(model.parameters).toBeGreaterThan(0);
      expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
      const v1 = model.versions[0];
      expect(v1.converted).toBe(true);
      expect(v1.metadata.validation).toMatchObject({ checker: 'ok' });
      if (compared) expect(v1.metadata.maxAbsDiff).toBeLessThan(1e-2);

      const reply = await gw.app
        .get(MessageBus)
        .request(DescribeModelRequest, DescribeModelReply, Registry.describeModel, { modelId }, 3000);
      const onnxPath = reply.model!.versions[0].onnxPath!;
      expect(existsSync(onnxPath)).toBe(true);
      expect(onnxPath.startsWith(path.join(gw.dataDir, 'models', modelId))).toBe(true);
    },
  );

  it('preset yolov8n -> 202 saying it is untrained -> a version built from the architecture', async () => {
    const r = await fetch(`${gw.api}/models/presets/yolov8n`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(r.status).toBe(202);
    const body = (await r.json()) as { model: { id: string; preset: string }; job: { id: string }; note: string };
    expect(body.note).toMatch(/UNTRAINED/);
    expect(body.model.preset).toBe('yolov8n');
    const job = await waitForJob(body.job.id);
    if (job.state !== 'succeeded') throw new Error(`job ${job.state}: ${job.error}\n${workerLog}`);
    const model = (await (
      await fetch(`${gw.api}/models/${body.model.id}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { trained: boolean; latestVersion: number; task: string; outputs: unknown[] };
    expect(model).toMatchObject({ trained: false, latestVersion: 1, task: 'detect' });
    expect(model.outputs.length).toBeGreaterThan(0);
  });
});
