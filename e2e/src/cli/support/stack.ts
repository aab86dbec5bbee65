import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../../../scripts/lib/ports';
import { OutputWatcher, ROOT, waitExit } from '../../support/processes';

/** The whole compiled platform (`npm start` without the bootstrap), on free ports, in a scratch dir. */
export interface Stack {
  gatewayUrl: string;
  inferenceUrl: string;
  dataDir: string;
  adminPassword: string;
  output: OutputWatcher;
  stop(): Promise<void>;
}

const PORTS = [
  'CVP_NATS_PORT',
  'CVP_NATIVE_PORT',
  'CVP_GATEWAY_PORT',
  'CVP_INFERENCE_PORT',
  'CVP_TRAINER_PORT',
  'CVP_BENCH_PORT',
  'CVP_PACKAGER_PORT',
];

/**
 * Starts scripts/supervisor.js (no demo) and waits for "all processes ready" (bounded); `env`
 * reaches every service (e.g. short bench settings, small upload caps).
 */
export async function startStack(name: string, env: Record<string, string> = {}): Promise<Stack> {
  const dataDir = path.join(process.env.CVP_TEST_DIR!, name);
  mkdirSync(dataDir, { recursive: true });
  const ports: Record<string, string> = {};
  for (const n of PORTS) ports[n] = String(await freePort());
  const adminPassword = 'e2e-admin-pass-1';
  const sup: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'scripts/supervisor.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...ports,
      CVP_DATA_DIR: dataDir,
      CVP_DEMO: '0',
      CVP_NATS_URL: '',
      CVP_ADMIN_PASSWORD: adminPassword,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = new OutputWatcher(sup.stdout!);
  new OutputWatcher(sup.stderr!);
  const stop = async () => {
    if (sup.exitCode !== null || sup.signalCode !== null) return;
    sup.kill('SIGTERM');
    await waitExit(sup, 60_000).catch(() => sup.kill('SIGKILL'));
  };
  let ready = false;
  try {
    await Promise.race([
      output.waitFor(/all processes ready/, 170_000).then(() => (ready = true)),
      new Promise<never>((_, reject) =>
        sup.once('exit', (code) => {
          if (!ready) reject(new Error(`supervisor exited ${code} before readiness:\n${output.text}`));
        }),
      ),
    ]);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    gatewayUrl: `http://127.0.0.1:${ports.CVP_GATEWAY_PORT}`,
    inferenceUrl: `http://127.0.0.1:${ports.CVP_INFERENCE_PORT}`,
    dataDir,
    adminPassword,
    output,
    stop,
  };
}

/** Bench settings that keep one protocol on a tiny model within seconds (as bench's own tests do). */
export const SHORT_BENCH_ENV = (lockDir: string): Record<string, string> => ({
  CVP_BENCH_WARMUP: '2',
  CVP_BENCH_ITERATIONS: '8',
  CVP_BENCH_MAX_ATTEMPTS: '1',
  CVP_BENCH_CV_THRESHOLD: '0.5',
  CVP_BENCH_THREADS: '1',
  CVP_BENCH_CONCURRENCY: '1,2',
  CVP_BENCH_CONCURRENCY_REQUESTS: '8',
  CVP_BENCH_STABILITY_USERS: '10',
  CVP_BENCH_STABILITY_SECONDS: '1',
  CVP_BENCH_MAX_BATCH: '2',
  CVP_BENCH_VARIANTS: '',
  CVP_BENCH_NATIVE: 'false',
  CVP_BENCH_LOCK_FILE: path.join(lockDir, 'bench-measure.lock'),
});
