import os from 'node:os';
import path from 'node:path';
import type { BenchConfig } from './config';
import { defaultProtocolSettings, type ProtocolSettings } from './protocol/protocol-settings';

export const BENCH_SETTINGS = Symbol('BENCH_SETTINGS');

export interface BenchServiceSettings {
  dataDir: string;
  protocol: ProtocolSettings;
  lockFile: string;
  lockWaitMs: number;
  registryTimeoutMs: number;
}

/** Validated config -> what the handler and the protocol use. */
export function toBenchSettings(c: BenchConfig): BenchServiceSettings {
  const d = defaultProtocolSettings();
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
      maxBatch: c.CVP_BENCH_MAX_BATCH,
      mapImages: c.CVP_BENCH_MAP_IMAGES,
      variants: c.CVP_BENCH_VARIANTS.split(',')
        .map((x) => x.trim())
        .filter(Boolean) as ProtocolSettings['variants'],
      native: c.CVP_BENCH_NATIVE,
      python: c.CVP_PYTHON || d.python,
      nativeBinary: c.CVP_NATIVE_BIN || d.nativeBinary,
      measureTimeoutMs: c.CVP_BENCH_MEASURE_TIMEOUT_MS,
      variantTimeoutMs: c.CVP_BENCH_VARIANT_TIMEOUT_MS,
    },
  };
}
