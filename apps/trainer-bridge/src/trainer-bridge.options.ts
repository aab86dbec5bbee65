import * as path from 'node:path';
import { hostGpuNode } from '@cvp/gpu-lease';
import type { TrainerBridgeConfig } from './config';
import type { PythonRunnerOptions } from './python-runner/python-runner.options';

export const TRAINER_BRIDGE_OPTIONS = Symbol('TRAINER_BRIDGE_OPTIONS');

/** The config with paths made absolute, in the shape the feature services need. */
export interface TrainerBridgeOptions {
  dataDir: string;
  natsUrl: string;
  python: PythonRunnerOptions;
  convertTimeoutMs: number;
  trainTimeoutMs: number;
  tuneTimeoutMs: number;
  gpuTokens: number;
  /** The GPU pool this machine's leases count against (the trial wrappers inherit it). */
  gpuNode: string;
  leaseTtlMs: number;
  leaseWaitMs: number;
  registryTimeoutMs: number;
  /** Absolute path of bench's latency script, or undefined when it does not exist (fallback in python). */
  latencyScript: string;
  /** Command prefix of the trial lease wrapper (node, path registration, compiled script). */
  trialWrapperCommand: string[];
  /** Node binary for the node scripts (trial wrapper, latency). */
  node: string;
  /** Command prefix of the sandbox launcher every tuning trial runs through (libs/sandbox sandbox-exec). */
  sandboxExecCommand: string[];
}

export function toTrainerBridgeOptions(c: TrainerBridgeConfig, cwd = process.cwd()): TrainerBridgeOptions {
  const abs = (p: string) => path.resolve(cwd, p);
  const dataDir = abs(c.CVP_DATA_DIR);
  return {
    dataDir,
    natsUrl: c.CVP_NATS_URL,
    python: {
      python: abs(c.CVP_PYTHON),
      dataDir,
      defaultTimeoutMs: c.CVP_TRAIN_TIMEOUT_MS,
      killGraceMs: c.CVP_KILL_GRACE_MS,
      threadsPerChild: c.CVP_TRAIN_THREADS,
      sandbox: c,
    },
    convertTimeoutMs: c.CVP_CONVERT_TIMEOUT_MS,
    trainTimeoutMs: c.CVP_TRAIN_TIMEOUT_MS,
    tuneTimeoutMs: c.CVP_TUNE_TIMEOUT_MS,
    gpuTokens: c.CVP_GPU_TOKENS,
    gpuNode: c.CVP_GPU_NODE ?? hostGpuNode(),
    leaseTtlMs: c.CVP_LEASE_TTL_MS,
    leaseWaitMs: c.CVP_LEASE_WAIT_MS,
    registryTimeoutMs: c.CVP_REGISTRY_TIMEOUT_MS,
    latencyScript: abs(c.CVP_LATENCY_SCRIPT),
    trialWrapperCommand: [process.execPath, '-r', abs('scripts/register-paths.js'), abs(c.CVP_TRIAL_WRAPPER_SCRIPT)],
    node: process.execPath,
    sandboxExecCommand: [
      process.execPath,
      '-r',
      abs('scripts/register-paths.js'),
      abs('dist/libs/sandbox/src/sandbox-exec.main.js'),
    ],
  };
}
