import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '@cvp/platform';
import { type BenchOptions, benchOptionsFrom } from '../bench-options';
import { benchConfigSchema } from '../config';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const PYTHON = path.join(REPO_ROOT, 'python/.venv/bin/python');

/** A real ONNX detector from the python CLI: the untrained yolov8n preset at a small size. */
export function makeYoloPreset(outDir: string, imgsz = 64): string {
  if (!existsSync(PYTHON))
    throw new Error(`python venv missing at ${PYTHON}: the bootstrap creates it; bench tests need a real ONNX model`);
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync(
    PYTHON,
    ['-m', 'cvp_ml', 'preset', '--name', 'yolov8n', '--out', outDir, '--imgsz', String(imgsz), '--seed', '0'],
    {
      cwd: path.join(REPO_ROOT, 'python'),
      encoding: 'utf8',
      timeout: 240_000,
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

/** Small measurement options so a whole protocol runs in well under a minute on 2 busy cores. */
export function testBenchOptions(dataDir: string, over: Record<string, string> = {}): BenchOptions {
  return benchOptionsFrom(
    parseConfig(benchConfigSchema, {
      CVP_NATS_URL: process.env.CVP_NATS_URL,
      CVP_DATA_DIR: dataDir,
      CVP_BENCH_WARMUP: '2',
      CVP_BENCH_ITERATIONS: '8',
      CVP_BENCH_MAX_ATTEMPTS: '2',
      CVP_BENCH_CV_THRESHOLD: '0.25',
      CVP_BENCH_THREADS: '1',
      CVP_BENCH_CONCURRENCY: '1,4',
      CVP_BENCH_CONCURRENCY_REQUESTS: '8',
      CVP_BENCH_STABILITY_USERS: '100',
      CVP_BENCH_STABILITY_SECONDS: '1',
      CVP_BENCH_INSTANCE_SECONDS: '1',
      CVP_BENCH_MAX_BATCH: '2',
      CVP_BENCH_VARIANTS: 'fp16,int8-static',
      CVP_BENCH_LOCK_FILE: path.join(process.env.CVP_TEST_DIR ?? '/tmp', 'bench-measure.lock'),
      CVP_BENCH_LOCK_WAIT_MS: '600000',
      CVP_BENCH_SERVED_IMAGES: '4',
      CVP_BENCH_PROFILE_SECONDS: '0.5',
      // Tests that want steps 6, 8 and 9 on a data plane pass its URL; elsewhere they are skipped with that reason.
      CVP_INFERENCE_URL: '',
      ...over,
    }),
  );
}
