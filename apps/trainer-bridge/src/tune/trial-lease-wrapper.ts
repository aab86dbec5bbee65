/**
 * CVP_TRIAL_WRAPPER for the python tuning coordinator: `node trial-lease-wrapper.js --holder H --
 * python -m cvp_ml train ...`. Connects to NATS, holds a GPU lease (priority train) while the trial
 * runs, renews it (the client does, every ttl/3) and releases it; exit code = the trial's.
 * Config from env: CVP_NATS_URL, CVP_GPU_NODE, CVP_LEASE_TTL_MS, CVP_LEASE_WAIT_MS, CVP_KILL_GRACE_MS.
 */
import { MessageBus } from '@cvp/platform';
import pino from 'pino';
import { createLeaseClient } from './lease-client.factory';
import { EXIT, parseWrapperArgs, runTrialUnderLease } from './trial-runner';

const num = (v: string | undefined, def: number) =>
  v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : def;

async function main(): Promise<number> {
  const emit = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
  let parsed;
  try {
    parsed = parseWrapperArgs(process.argv.slice(2));
  } catch (e) {
    emit({ type: 'error', code: 'bad_input', message: (e as Error).message });
    return 2;
  }
  const ac = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => ac.abort());
  // Logs go to stderr: stdout carries only wire-format lines for the coordinator.
  const logger = pino(
    { level: process.env.CVP_LOG_LEVEL ?? 'warn', base: { service: 'trial-lease-wrapper', pid: process.pid } },
    pino.destination(2),
  );
  const bus = new MessageBus({
    url: process.env.CVP_NATS_URL ?? 'nats://127.0.0.1:4222',
    name: `trial-lease-wrapper:${parsed.holder}`,
    logger,
    connectTimeoutMs: 5000,
  });
  try {
    await bus.connect();
  } catch (e) {
    emit({
      type: 'error',
      code: 'lease_unavailable',
      message: `cannot reach NATS for a GPU lease: ${(e as Error).message}`,
    });
    return EXIT.other;
  }
  const client = createLeaseClient(bus, logger, process.env.CVP_GPU_NODE);
  try {
    const { exitCode } = await runTrialUnderLease({
      client,
      holder: parsed.holder,
      ttlMs: num(process.env.CVP_LEASE_TTL_MS, 30_000),
      waitMs: num(process.env.CVP_LEASE_WAIT_MS, 6 * 3600_000),
      killGraceMs: num(process.env.CVP_KILL_GRACE_MS, 3000),
      command: parsed.command,
      args: parsed.args,
      signal: ac.signal,
      emit,
    });
    return exitCode;
  } finally {
    await client.close().catch(() => undefined);
    await bus.close().catch(() => undefined);
  }
}

void main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`trial-lease-wrapper: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(EXIT.other);
  },
);
