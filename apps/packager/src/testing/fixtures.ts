import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Msg } from 'nats';
import pino from 'pino';
import {
  DescribeModelReply,
  DescribeModelRequest,
  type EngineConfig,
  LatestBenchmarkReply,
  LatestBenchmarkRequest,
  Registry,
} from '@cvp/contracts';
import type { JobContext, JobProgressUpdate } from '@cvp/jobs';
import { MessageBus } from '@cvp/platform';
import { packagerConfigSchema, type PackagerConfig } from '../config';
import type { BenchmarkDescription as BenchmarkFacts, ModelDescription as ModelFacts } from '@cvp/jobs';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const PYTHON = path.join(REPO_ROOT, 'python/.venv/bin/python');
export const silentLogger = pino({ level: 'silent' });

export function scratchDir(prefix: string): string {
  const base = process.env.CVP_TEST_DIR ?? '/tmp';
  mkdirSync(base, { recursive: true });
  return mkdtempSync(path.join(base, `${prefix}-`));
}

/**
 * A frozen copy of what the packager reads from the platform checkout (compiled data plane,
 * package.json, lockfile, native sources), so another engineer's rebuild of dist/ during the run
 * cannot change the bytes between two packagings.
 */
export function platformSnapshot(into: string): string {
  const main = path.join(REPO_ROOT, 'dist/apps/inference/src/static-repository/standalone.main.js');
  if (!existsSync(main))
    throw new Error(
      `the compiled data plane is missing (${main}): run \`npx tsc -p tsconfig.build.json\` first (npm test's bootstrap does)`,
    );
  for (const rel of [
    'package.json',
    'package-lock.json',
    'dist/apps/inference',
    'dist/libs',
    'native/CMakeLists.txt',
    'native/src',
    'native/scripts',
    'libs/contracts/proto',
    'scripts/gpu-ort.sh',
    'scripts/lib/gpu-ort.lock',
    'scripts/lib/ort-gpu-probe.c',
    'deploy/cuda-libs.lock',
  ]) {
    cpSync(path.join(REPO_ROOT, rel), path.join(into, rel), {
      recursive: true,
      filter: (src) => !src.endsWith('.map') && !src.endsWith('.tsbuildinfo'),
    });
  }
  return into;
}

/** A real ONNX detector from the python CLI (untrained yolov8n at 64 px: small and quick). */
export function makeYoloModel(outDir: string): string {
  if (!existsSync(PYTHON))
    throw new Error(
      `python venv missing at ${PYTHON}: the bootstrap creates it (python/scripts/setup-venv.sh); packager tests need a real ONNX model`,
    );
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync(
    PYTHON,
    ['-m', 'cvp_ml', 'preset', '--name', 'yolov8n', '--out', outDir, '--imgsz', '64', '--seed', '0'],
    {
      cwd: path.join(REPO_ROOT, 'python'),
      encoding: 'utf8',
      timeout: 180_000,
      env: {
        ...process.env,
        YOLO_OFFLINE: 'true',
        YOLO_AUTOINSTALL: 'false',
        YOLO_CONFIG_DIR: path.join(outDir, '.yolo'),
      },
    },
  );
  const onnx = path.join(outDir, 'model.onnx');
  if (r.status !== 0 || !existsSync(onnx))
    throw new Error(`cvp_ml preset failed (${r.status}): ${r.stderr?.slice(-2000)}`);
  return onnx;
}

export function packagerConfig(over: Partial<Record<keyof PackagerConfig, string>>): PackagerConfig {
  return packagerConfigSchema.parse({ CVP_NATS_URL: process.env.CVP_NATS_URL, ...over });
}

export async function connectBus(name: string): Promise<MessageBus> {
  const bus = new MessageBus({ url: process.env.CVP_NATS_URL!, name, logger: silentLogger });
  await bus.connect();
  return bus;
}

export function modelFacts(id: string, onnxPath: string, over: Partial<ModelFacts> = {}): ModelFacts {
  return {
    id,
    name: 'Street Cams v8n',
    task: 'detect',
    labels: Array.from({ length: 80 }, (_, i) => `class${i}`),
    preset: 'yolov8n',
    latestVersion: 1,
    versions: [
      {
        version: 1,
        onnxPath,
        sourcePath: null,
        sourceFormat: 'onnx',
        trained: false,
        createdAt: '2026-01-01T00:00:00.000Z',
        metadata: null,
      },
    ],
    ...over,
  };
}

export function benchmarkFacts(
  id: string,
  modelId: string,
  reportDir: string,
  selected: EngineConfig | null,
): BenchmarkFacts {
  return { id, modelId, modelVersion: 1, reportDir, selected, createdAt: '2026-01-02T00:00:00.000Z' };
}

/**
 * TEST DOUBLE of the gateway's registry responders (the real ones run in e2e/flows): answers
 * cvp.registry.model.describe and cvp.registry.benchmark.latest over the real nats-server with
 * contract-validated replies, from per-model facts the test sets. Subjects are shared by every
 * test file of a run, so replies are keyed by model id and unknown ids are left unanswered.
 */
export function serveRegistry(
  bus: MessageBus,
  facts: Map<string, { model: ModelFacts; benchmark: BenchmarkFacts | null }>,
) {
  const subs = [
    bus.subscribe(DescribeModelRequest, Registry.describeModel, (req, msg: Msg) => {
      const f = facts.get(req.modelId);
      if (f) bus.respond(msg, DescribeModelReply, { found: true, model: f.model });
    }),
    bus.subscribe(LatestBenchmarkRequest, Registry.latestBenchmark, (req, msg: Msg) => {
      const f = facts.get(req.modelId);
      if (f)
        bus.respond(
          msg,
          LatestBenchmarkReply,
          f.benchmark ? { found: true, benchmark: f.benchmark } : { found: false },
        );
    }),
  ];
  return () => subs.forEach((s) => s.unsubscribe());
}

export function jobContext(
  jobId: string,
  signal = new AbortController().signal,
): JobContext & { updates: JobProgressUpdate[] } {
  const updates: JobProgressUpdate[] = [];
  return {
    jobId,
    ownerId: 'u-test',
    attempt: 1,
    signal,
    logger: silentLogger,
    progress: (u) => updates.push(u),
    updates,
  };
}

export function extractTarball(tarball: string, into: string): string {
  mkdirSync(into, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', into]);
  const [root] = readdirSync(into);
  return path.join(into, root);
}

/** docker-compose 1.29 (Debian) validates a compose file offline; the bootstrap installs it. */
let composePresent = false;
function requireDockerCompose(): void {
  if (composePresent) return;
  const bin = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8', timeout: 60_000 });
  if (bin.error || bin.status !== 0) {
    throw new Error(
      "docker-compose is not installed: the bootstrap installs Debian's docker-compose (apt-get install docker-compose); compose files cannot be validated without it",
    );
  }
  composePresent = true;
}

/** Config keys the root compose file requires from the operator (it ships no default credential). */
const COMPOSE_REQUIRED_ENV = { CVP_GRAFANA_ADMIN_PASSWORD: randomBytes(16).toString('hex') };

/** `docker-compose config -q` with only PATH, HOME, the root file's required keys and `env` set. */
export function composeConfigCheck(file: string, env: Record<string, string> = {}): { ok: boolean; output: string } {
  requireDockerCompose();
  const r = spawnSync('docker-compose', ['-f', file, 'config', '-q'], {
    encoding: 'utf8',
    cwd: path.dirname(file),
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...COMPOSE_REQUIRED_ENV, ...env },
  });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** The resolved compose model (`docker-compose config`, YAML -> JSON through python3-yaml, a dependency of docker-compose). */
export function composeResolved(
  files: string[],
  cwd: string,
): { services: Record<string, Record<string, unknown>>; volumes?: Record<string, unknown> } {
  requireDockerCompose();
  const r = spawnSync('docker-compose', [...files.flatMap((f) => ['-f', f]), 'config'], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...COMPOSE_REQUIRED_ENV },
  });
  if (r.status !== 0) throw new Error(`docker-compose config failed: ${r.stderr}`);
  const j = spawnSync('python3', ['-c', 'import sys, yaml, json; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], {
    input: r.stdout,
    encoding: 'utf8',
  });
  if (j.status !== 0) throw new Error(`yaml -> json failed: ${j.stderr}`);
  return JSON.parse(j.stdout);
}
