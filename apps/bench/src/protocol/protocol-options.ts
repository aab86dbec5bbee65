import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { VariantKind } from '@cvp/contracts';

/**
 * Options of one protocol run: how thoroughly it measures and what it may run. The defaults keep
 * the whole protocol within 10 minutes for yolov8n 640 on 2 cores.
 */
export interface ProtocolOptions {
  warmup: number;
  iterations: number;
  cvThreshold: number;
  maxAttempts: number;
  /** Per-attempt measuring time budget per candidate (ms): slow models run fewer iterations (>= 5). */
  timeBudgetMs: number;
  seed: number;
  /** Intra-op thread counts tried at each graph level (0 = ORT default). */
  threads: number[];
  /** Users of each level of step 8's sweep. */
  concurrency: number[];
  /** Requests of each sweep level (at least as many as its users). */
  concurrencyRequests: number;
  stabilityUsers: number;
  stabilityDurationMs: number;
  /** Inputs accuracy agreement compares on (data set images, else seeded inputs); at least 32. */
  agreementSamples: number;
  /** Images step 6 profiles the serving pipeline on, and steps 8 and 9 send (cycled). */
  servedImages: number;
  /** Length of step 8's profiled load window at its highest level (0: no CPU profile). */
  profileMs: number;
  /** Detectors with a labelled YOLO data set: images scored for mAP per candidate (0 = no mAP). */
  mapImages: number;
  /** Largest batch tried when the model has a dynamic batch axis. */
  maxBatch: number;
  variants: Exclude<VariantKind, 'fp32'>[];
  /** python interpreter of the venv; null skips variants (reported). */
  python: string | null;
  /** Folder python runs in (the repo's python/). */
  pythonCwd: string;
  nativeBinary: string;
  /** Measure native-core engines (when the binary exists). */
  native: boolean;
  /** Bound on one ort-node measurement (its child process); a load run adds its stability duration. */
  measureTimeoutMs: number;
  variantTimeoutMs: number;
  /** Bound on one gRPC call to the native core. */
  rpcTimeoutMs: number;
  /** Seconds each model-instance layout of the chosen configuration runs under load; 0 = keep one instance. */
  instanceLayoutSeconds: number;
}

/** The repository root, from the source tree or from dist/ (the folder holding package.json and python/). */
export function findRepoRoot(start = __dirname): string {
  let dir = start;
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'python'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

export function defaultProtocolOptions(repoRoot = findRepoRoot()): ProtocolOptions {
  const cores = Math.max(1, os.cpus().length);
  return {
    warmup: 2,
    iterations: 20,
    cvThreshold: 0.1,
    maxAttempts: 2,
    timeBudgetMs: 6000,
    seed: 0,
    threads: [...new Set([1, cores])],
    concurrency: [1, 2, 4, 8],
    concurrencyRequests: 16,
    stabilityUsers: 100,
    stabilityDurationMs: 10_000,
    agreementSamples: 32,
    servedImages: 16,
    profileMs: 3000,
    // Every batch-1 candidate runs these images once more: 32 keeps yolov8n 640 on 2 cores within the protocol's budget.
    mapImages: 32,
    maxBatch: 4,
    variants: ['fp16', 'int8-static', 'int8-dynamic'],
    python: path.join(repoRoot, 'python/.venv/bin/python'),
    pythonCwd: path.join(repoRoot, 'python'),
    nativeBinary: path.join(repoRoot, 'native/build/cvp-core'),
    native: true,
    measureTimeoutMs: 180_000,
    variantTimeoutMs: 300_000,
    rpcTimeoutMs: 30_000,
    instanceLayoutSeconds: 4,
  };
}
