import { gpuNodeConfigShape } from '@cvp/gpu-lease';
import { artifactsConfigShape } from '@cvp/artifacts';
import { baseConfigSchema, portKey } from '@cvp/platform';
import { sandboxConfigShape } from '@cvp/sandbox';
import { z } from 'zod';

const ms = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

/** trainer-bridge config: environment values validated at start-up; every key has a local default. */
export const trainerBridgeConfigSchema = baseConfigSchema.extend({
  /** Where artifacts move between hosts (CVP_ARTIFACTS, local by default). */
  ...artifactsConfigShape,
  /** The GPU pool this machine's leases count against (CVP_GPU_NODE, default: the host name). */
  ...gpuNodeConfigShape,
  CVP_TRAINER_PORT: portKey(3101),
  /** Interpreter of python/'s venv (relative paths are resolved against the working directory). */
  CVP_PYTHON: z.string().min(1).default('python/.venv/bin/python'),
  /** Wall-clock limits per job type. */
  CVP_CONVERT_TIMEOUT_MS: ms(30 * 60_000, 1000),
  CVP_TRAIN_TIMEOUT_MS: ms(12 * 3600_000, 1000),
  CVP_TUNE_TIMEOUT_MS: ms(48 * 3600_000, 1000),
  /** SIGTERM -> SIGKILL grace for a child's process group (cancel completes within 5 s). */
  CVP_KILL_GRACE_MS: ms(3000, 100).refine((v) => v <= 4000, 'must be <= 4000 so a cancel completes within 5 s'),
  /** Jobs of each type (convert, train, tune) this process runs at once; GPU leases bound the GPU work. */
  CVP_TRAINER_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(2),
  /** CPU threads per python child (torch/OMP). */
  CVP_TRAIN_THREADS: z.coerce.number().int().min(1).max(256).default(2),
  /** Tokens of the central lease service: tuning runs this many trials at once at most. */
  CVP_GPU_TOKENS: z.coerce.number().int().min(1).max(64).default(2),
  /** GPU lease for a training: time-to-live (renewed every ttl/3) and queue wait. */
  CVP_LEASE_TTL_MS: ms(30_000, 1000),
  CVP_LEASE_WAIT_MS: ms(6 * 3600_000, 1000),
  /** Registry RPCs to the gateway. */
  CVP_REGISTRY_TIMEOUT_MS: ms(5000, 100),
  /** Latency command for nsga2 trials (bench's measurement code); skipped when the file is absent. */
  CVP_LATENCY_SCRIPT: z.string().default('scripts/measure-latency.js'),
  /** Node script that wraps every tuning trial in a GPU lease (compiled from src/tune/trial-lease-wrapper.ts). */
  CVP_TRIAL_WRAPPER_SCRIPT: z.string().default('dist/apps/trainer-bridge/src/tune/trial-lease-wrapper.js'),
  /** The sandbox of every child that opens a user's model or data set (libs/sandbox). */
  ...sandboxConfigShape,
});
export type TrainerBridgeConfig = z.infer<typeof trainerBridgeConfigSchema>;
