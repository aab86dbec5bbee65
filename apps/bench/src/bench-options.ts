import os from 'node:os';
import path from 'node:path';
import type { BenchConfig } from './config';
import { defaultProtocolOptions, type ProtocolOptions } from './protocol/protocol-options';
import type { ScratchDeploymentOptions } from './serving/scratch-deployments.publisher';

export const BENCH_OPTIONS = Symbol('BENCH_OPTIONS');

/** What the bench service's parts are built with: the validated config, resolved once at start-up. */
export interface BenchOptions {
  dataDir: string;
  /** Options of every protocol run this service starts. */
  protocol: ProtocolOptions;
  lockFile: string;
  lockWaitMs: number;
  registryTimeoutMs: number;
  /** The data plane for steps 6, 8 and 9; null when none is configured (`servingPathMissing` says so). */
  serving: ScratchDeploymentOptions | null;
  servingPathMissing?: string;
}

/** Validated config -> the options the handler, the registry client and the protocol use. */
export function benchOptionsFrom(c: BenchConfig): BenchOptions {
  const d = defaultProtocolOptions();
  const threads = c.CVP_BENCH_THREADS.trim()
    ? [
        ...new Set(
          c.CVP_BENCH_THREADS.split(',')
            .map((x) => Number(x.trim()))
            .filter((x) => Number.isInteger(x) && x >= 0),
        ),
      ]
    : d.threads;
  return {
    dataDir: path.resolve(c.CVP_DATA_DIR),
    lockFile: c.CVP_BENCH_LOCK_FILE || path.join(os.tmpdir(), 'cvp-bench-measure.lock'),
    lockWaitMs: c.CVP_BENCH_LOCK_WAIT_MS,
    registryTimeoutMs: c.CVP_BENCH_REGISTRY_TIMEOUT_MS,
    serving: c.CVP_INFERENCE_URL
      ? {
          inferenceUrl: c.CVP_INFERENCE_URL,
          statusTimeoutMs: c.CVP_BENCH_SCRATCH_STATUS_TIMEOUT_MS,
          loadTimeoutMs: c.CVP_BENCH_SCRATCH_LOAD_TIMEOUT_MS,
          removeTimeoutMs: c.CVP_BENCH_SCRATCH_REMOVE_TIMEOUT_MS,
        }
      : null,
    ...(c.CVP_INFERENCE_URL ? {} : { servingPathMissing: 'CVP_INFERENCE_URL is empty' }),
    protocol: {
      ...d,
      warmup: c.CVP_BENCH_WARMUP,
      iterations: c.CVP_BENCH_ITERATIONS,
      cvThreshold: c.CVP_BENCH_CV_THRESHOLD,
      maxAttempts: c.CVP_BENCH_MAX_ATTEMPTS,
      seed: c.CVP_BENCH_SEED,
      threads: threads.length ? threads : d.threads,
      concurrency: c.CVP_BENCH_CONCURRENCY,
      concurrencyRequests: c.CVP_BENCH_CONCURRENCY_REQUESTS,
      stabilityUsers: c.CVP_BENCH_STABILITY_USERS,
      stabilityDurationMs: Math.round(c.CVP_BENCH_STABILITY_SECONDS * 1000),
      instanceLayoutSeconds: c.CVP_BENCH_INSTANCE_SECONDS,
      maxBatch: c.CVP_BENCH_MAX_BATCH,
      mapImages: c.CVP_BENCH_MAP_IMAGES,
      agreementSamples: c.CVP_BENCH_AGREEMENT_SAMPLES,
      servedImages: c.CVP_BENCH_SERVED_IMAGES,
      profileMs: Math.round(c.CVP_BENCH_PROFILE_SECONDS * 1000),
      variants: c.CVP_BENCH_VARIANTS.split(',')
        .map((x) => x.trim())
        .filter(Boolean) as ProtocolOptions['variants'],
      native: c.CVP_BENCH_NATIVE,
      python: c.CVP_PYTHON || d.python,
      nativeBinary: c.CVP_NATIVE_BIN || d.nativeBinary,
      measureTimeoutMs: c.CVP_BENCH_MEASURE_TIMEOUT_MS,
      variantTimeoutMs: c.CVP_BENCH_VARIANT_TIMEOUT_MS,
    },
  };
}
