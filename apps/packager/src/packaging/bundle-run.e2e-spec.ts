import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { type DeploymentChanged, DeploymentChangedContract, Subjects } from '@cvp/contracts';
import type { MessageBus } from '@cvp/platform';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { freePort } = require('../../../../scripts/lib/ports') as { freePort: () => Promise<number> };
import type { PackagerConfig } from '../config';
import {
  connectBus,
  extractTarball,
  makeYoloModel,
  modelFacts,
  packagerConfig,
  platformSnapshot,
  REPO_ROOT,
  scratchDir,
} from '../testing/fixtures';
import { BundleAssembler } from './bundle-assembler.service';
import { planPackage } from './package-plan';
import { PackageWriter } from './package-writer.service';

/**
 * The proof that a bundle is complete: extract the tarball, start it with ./run.sh (no Docker, no
 * NATS, the platform's node_modules through NODE_PATH), and compare its answers with the
 * platform's own data plane serving the same model (deployed over NATS) for the same image.
 * The bundle runs apps/inference/src/static-repository/standalone.main.ts: the platform's
 * KServe module and engines without NATS, the model deployed from CVP_INFER_MODEL_CONFIG.
 */
const READY_TIMEOUT_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  child: ChildProcess;
  log: string;
  exited: () => boolean;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, log: string): Proc {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', fd, fd], detached: true });
  let exited = false;
  child.on('exit', () => (exited = true));
  return { child, log, exited: () => exited };
}

async function stop(p?: Proc): Promise<void> {
  if (!p || p.exited()) return;
  try {
    process.kill(-p.child.pid!, 'SIGTERM');
  } catch {
    return;
  }
  const end = Date.now() + 10_000;
  while (!p.exited() && Date.now() < end) await sleep(50);
  if (!p.exited()) process.kill(-p.child.pid!, 'SIGKILL');
}

const tail = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').slice(-3000) : '(no log)');

async function waitHttp(url: string, p: Proc, what: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < end) {
    if (p.exited()) throw new Error(`${what} exited before ${url} answered 200; its log:\n${tail(p.log)}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `${r.status} ${(await r.text()).slice(0, 300)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`${what}: ${url} did not answer 200 within ${timeoutMs} ms (last: ${last}); log:\n${tail(p.log)}`);
}

/** A seeded 64x64 PNG with shapes on it (deterministic bytes). */
async function testImage(): Promise<Buffer> {
  const px = Buffer.alloc(64 * 64 * 3);
  let s = 12345;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const y = Math.floor(i / 192);
    const x = Math.floor((i % 192) / 3);
    px[i] = x > 16 && x < 40 && y > 20 && y < 50 ? 230 : s % 256;
  }
  return sharp(px, { raw: { width: 64, height: 64, channels: 3 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

interface Detect {
  detections: { class_id: number; label: string; score: number; box: number[] }[];
}

describe('bundle started with run.sh vs the platform deployment (real data plane, real ONNX)', () => {
  let dir: string;
  let config: PackagerConfig;
  let bus: MessageBus;
  let onnx: string;
  let image: Buffer;
  let platformInference: Proc | undefined;
  let platformUrl = '';
  let platformNativePort = 0;
  let platformNative: Proc | undefined;
  const bundles: Proc[] = [];

  beforeAll(async () => {
    dir = scratchDir('bundle-run');
    const dataDir = path.join(dir, 'data');
    onnx = makeYoloModel(path.join(dataDir, 'models', 'run-m1', 'v1'));
    config = packagerConfig({
      CVP_DATA_DIR: dataDir,
      CVP_PACKAGER_PLATFORM_ROOT: platformSnapshot(path.join(dir, 'platform')),
    });
    bus = await connectBus('bundle-run-test');
    image = await testImage();
    platformNativePort = await freePort();
  }, 240_000);

  afterAll(async () => {
    for (const b of bundles) await stop(b);
    await stop(platformInference);
    await stop(platformNative);
    await bus?.close();
  });

  async function makeBundle(engine: 'native' | 'ort-node'): Promise<string> {
    const model = modelFacts('run-m1', onnx, { name: 'run check' });
    const plan = planPackage({ modelId: 'run-m1', engine, variant: 'cpu' }, model, null);
    plan.engineConfig.options = { ...plan.engineConfig.options, threads: 1 };
    const written = await new PackageWriter(config).write(await new BundleAssembler(config).assemble(plan));
    const bundle = extractTarball(written.tarballPath, path.join(dir, `extracted-${engine}`));
    const entry = path.join(bundle, 'app/dist/apps/inference/src/static-repository/standalone.main.js');
    if (!existsSync(entry))
      throw new Error(
        `the bundle lacks the data plane's standalone entry (${entry}): build apps/inference (npx tsc -p tsconfig.build.json)`,
      );
    return bundle;
  }

  /**
   * deps "own": run.sh installs the bundle's pruned lock with `npm ci --omit=dev --offline` from the
   * local npm cache (the proof that the bundle names every package it needs); "platform": NODE_PATH
   * points at the platform's node_modules (the documented shortcut).
   */
  async function startBundle(
    bundle: string,
    deps: 'own' | 'platform',
    extraEnv: NodeJS.ProcessEnv = {},
  ): Promise<string> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...(deps === 'platform' ? { NODE_PATH: path.join(REPO_ROOT, 'node_modules') } : {}),
      CVP_INFERENCE_PORT: String(port),
      CVP_NATIVE_PORT: String(await freePort()),
      CVP_LOG_LEVEL: 'info',
      // a NATS URL nobody listens on: the bundle must not need one
      CVP_NATS_URL: 'nats://127.0.0.1:1',
      ...extraEnv,
    };
    const p = start('sh', [path.join(bundle, 'run.sh')], env, dir, path.join(dir, `bundle-${port}.log`));
    bundles.push(p);
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(`${url}/v2/health/ready`, p, 'bundle (run.sh)');
    return url;
  }

  async function platformDeployment(deployment: DeploymentChanged): Promise<string> {
    if (!platformInference) {
      const port = await freePort();
      platformUrl = `http://127.0.0.1:${port}`;
      platformInference = start(
        process.execPath,
        [
          '-r',
          path.join(REPO_ROOT, 'scripts/register-paths.js'),
          path.join(REPO_ROOT, 'dist/apps/inference/src/main.js'),
        ],
        {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          CVP_NATS_URL: process.env.CVP_NATS_URL,
          CVP_DATA_DIR: path.join(dir, 'platform-data'),
          CVP_INFERENCE_PORT: String(port),
          CVP_NATIVE_ADDR: `127.0.0.1:${platformNativePort}`,
          CVP_LOG_LEVEL: 'info',
        },
        REPO_ROOT,
        path.join(dir, 'platform-inference.log'),
      );
      await waitHttp(`${platformUrl}/v2/health/live`, platformInference, 'platform inference');
    }
    mkdirSync(path.join(dir, 'platform-data'), { recursive: true });
    // The gateway's deployments module sends exactly this on cvp.deployments.changed.
    const end = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      bus.publish(DeploymentChangedContract, Subjects.deploymentChanged, deployment);
      await sleep(500);
      const r = await fetch(`${platformUrl}/v2/models/${deployment.modelName}/ready`).catch(() => undefined);
      if (r?.status === 200) return platformUrl;
      if (Date.now() > end)
        throw new Error(
          `platform inference never readied ${deployment.modelName}; log:\n${tail(platformInference.log)}`,
        );
    }
  }

  async function detect(url: string, model: string): Promise<Detect> {
    const r = await fetch(`${url}/v2/models/${model}/detect`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(image),
    });
    expect(r.status).toBe(200);
    return (await r.json()) as Detect;
  }

  async function infer(url: string, model: string): Promise<number[]> {
    const data = Array.from({ length: 3 * 64 * 64 }, (_, i) => ((i * 7919) % 255) / 255);
    const r = await fetch(`${url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'images', shape: [1, 3, 64, 64], datatype: 'FP32', data }] }),
    });
    expect(r.status).toBe(200);
    const out = (await r.json()) as { outputs: { data: number[] }[] };
    return out.outputs[0].data;
  }

  const expectSameAnswers = async (bundleUrl: string, platform: string, model: string) => {
    const [a, b] = [await detect(bundleUrl, model), await detect(platform, model)];
    expect(a.detections.length).toBe(b.detections.length);
    a.detections.forEach((d, i) => {
      const o = b.detections[i];
      expect(d.class_id).toBe(o.class_id);
      expect(d.label).toBe(o.label);
      expect(d.score).toBeCloseTo(o.score, 5);
      d.box.forEach((v, j) => expect(v).toBeCloseTo(o.box[j], 3));
    });
    const [x, y] = [await infer(bundleUrl, model), await infer(platform, model)];
    expect(x.length).toBe(y.length);
    expect(x.length).toBeGreaterThan(0);
    expect(Math.max(...x.map((v, i) => Math.abs(v - y[i])))).toBeLessThan(1e-4);
  };

  it('engine ort-node, dependencies from its own lock (npm ci --offline): answers /v2/health/ready and gives the same detections as the platform deployment', async () => {
    const bundle = await makeBundle('ort-node');
    const deployment = JSON.parse(
      readFileSync(path.join(bundle, 'model/model-config.json'), 'utf8'),
    ) as DeploymentChanged;
    const url = await startBundle(bundle, 'own');
    expect(existsSync(path.join(bundle, 'app/node_modules/onnxruntime-node'))).toBe(true);
    const platform = await platformDeployment({
      ...deployment,
      deploymentId: 'platform-ort',
      config: { ...deployment.config!, modelPath: onnx },
    });
    await expectSameAnswers(url, platform, deployment.modelName);
  }, 400_000);

  it("engine native, NODE_PATH to the platform's node_modules: run.sh starts the core through the same entrypoint and answers like the platform", async () => {
    const nativeBin = path.join(REPO_ROOT, 'native/build/cvp-core');
    if (!existsSync(nativeBin))
      throw new Error(`native core not built at ${nativeBin}: the bootstrap builds it (native/scripts/build.sh)`);
    const bundle = await makeBundle('native');
    const deployment = JSON.parse(
      readFileSync(path.join(bundle, 'model/model-config.json'), 'utf8'),
    ) as DeploymentChanged;
    const url = await startBundle(bundle, 'platform', { CVP_NATIVE_BIN: nativeBin });
    // The platform's own native core, as the supervisor starts it.
    platformNative = start(
      nativeBin,
      ['--host', '127.0.0.1', '--port', String(platformNativePort)],
      { PATH: process.env.PATH },
      REPO_ROOT,
      path.join(dir, 'platform-native.log'),
    );
    const platform = await platformDeployment({
      ...deployment,
      deploymentId: 'platform-native',
      config: { ...deployment.config!, modelPath: onnx },
    });
    await expectSameAnswers(url, platform, deployment.modelName);
  }, 400_000);
});
