import * as path from 'node:path';
import { MessageBus } from '@cvp/platform';
import pino from 'pino';
import { PythonRunner } from '../python-runner/python-runner.service';
import { RegistryClient } from '@cvp/jobs';
import type { TrainerBridgeOptions } from '../trainer-bridge.options';
import { requirePython } from './python-env';

/** The sandbox launcher run from its TypeScript source (tests drive the current code, not dist/). */
export function sandboxExecFromSource(): string[] {
  return [
    process.execPath,
    path.join(__dirname, 'run-ts.js'),
    path.join(__dirname, '../../../../libs/sandbox/src/sandbox-exec.main.ts'),
  ];
}

/** Options for handler tests: a scratch data dir, the real venv python, short leases. */
export function testOptions(name: string, overrides: Partial<TrainerBridgeOptions> = {}): TrainerBridgeOptions {
  const dataDir = path.join(process.env.CVP_TEST_DIR!, name);
  return {
    dataDir,
    natsUrl: process.env.CVP_NATS_URL!,
    python: { python: requirePython(), dataDir, defaultTimeoutMs: 600_000, killGraceMs: 2000, threadsPerChild: 1 },
    convertTimeoutMs: 600_000,
    trainTimeoutMs: 600_000,
    tuneTimeoutMs: 900_000,
    gpuTokens: 2,
    gpuNode: 'test-node',
    leaseTtlMs: 3000,
    leaseWaitMs: 60_000,
    registryTimeoutMs: 3000,
    latencyScript: path.join(dataDir, 'no-latency-script.js'),
    trialWrapperCommand: [],
    node: process.execPath,
    sandboxExecCommand: sandboxExecFromSource(),
    ...overrides,
  };
}

/** The handlers' collaborators over a real NATS connection. */
export async function handlerDeps(options: TrainerBridgeOptions) {
  const bus = new MessageBus({ url: options.natsUrl, name: 'trainer-bridge-test', logger: pino({ level: 'silent' }) });
  await bus.connect();
  return {
    bus,
    registry: new RegistryClient(bus, options.registryTimeoutMs),
    python: new PythonRunner(options.python),
  };
}
