import { gpuNodeConfigShape } from '@cvp/gpu-lease';
import { artifactsConfigShape } from '@cvp/artifacts';
import { baseConfigSchema, portKey } from '@cvp/platform';
import { z } from 'zod';

const intList = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s, ctx) => {
      const v = s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
        .map(Number);
      if (v.length === 0 || v.some((x) => !Number.isInteger(x) || x < 0 || x > 1024))
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a comma-separated list of integers 0..1024' });
      return v;
    });
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

/** bench config: environment values validated at start-up; every key has a local default. */
export const benchConfigSchema = baseConfigSchema.extend({
  /** Where artifacts move between hosts (CVP_ARTIFACTS, local by default). */
  ...artifactsConfigShape,
  /** The GPU pool this machine's leases count against (CVP_GPU_NODE, default: the host name). */
  ...gpuNodeConfigShape,
  CVP_BENCH_PORT: portKey(3102),
  CVP_BENCH_WARMUP: z.coerce.number().int().min(0).max(1000).default(3),
  CVP_BENCH_ITERATIONS: z.coerce.number().int().min(2).max(100000).default(20),
  CVP_BENCH_CV_THRESHOLD: z.coerce.number().positive().max(10).default(0.1),
  CVP_BENCH_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(2),
  CVP_BENCH_SEED: z.coerce.number().int().min(0).default(0),
  /** Intra-op thread counts to try; empty default = 1 and every core. */
  CVP_BENCH_THREADS: z.string().default(''),
  CVP_BENCH_CONCURRENCY: intList('1,2,4,8'),
  CVP_BENCH_CONCURRENCY_REQUESTS: z.coerce.number().int().min(1).max(100000).default(16),
  CVP_BENCH_STABILITY_USERS: z.coerce.number().int().min(0).max(10000).default(100),
  CVP_BENCH_STABILITY_SECONDS: z.coerce.number().min(0).max(3600).default(10),
  /** Seconds each model-instance layout of the chosen configuration runs under load; 0 keeps one instance. */
  CVP_BENCH_INSTANCE_SECONDS: z.coerce.number().min(0).max(600).default(4),
  CVP_BENCH_MAX_BATCH: z.coerce.number().int().min(2).max(256).default(4),
  CVP_BENCH_VARIANTS: z
    .string()
    .default('fp16,int8-static,int8-dynamic')
    .refine(
      (s) =>
        s
          .split(',')
          .filter(Boolean)
          .every((k) => ['fp16', 'int8-static', 'int8-dynamic'].includes(k.trim())),
      'variants: fp16, int8-static, int8-dynamic',
    ),
  /** Images of a labelled YOLO data set each detector candidate is scored on for mAP (0 = no mAP). */
  CVP_BENCH_MAP_IMAGES: z.coerce.number().int().min(0).max(100000).default(32),
  CVP_BENCH_NATIVE: bool(true),
  CVP_BENCH_MEASURE_TIMEOUT_MS: z.coerce.number().int().min(1000).default(180_000),
  CVP_BENCH_VARIANT_TIMEOUT_MS: z.coerce.number().int().min(1000).default(300_000),
  /** One benchmark measures at a time per host: the lock file and how long a run waits for it. */
  CVP_BENCH_LOCK_FILE: z.string().default(''),
  CVP_BENCH_LOCK_WAIT_MS: z.coerce.number().int().min(0).default(1_800_000),
  CVP_BENCH_REGISTRY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  CVP_PYTHON: z.string().default(''),
  CVP_NATIVE_BIN: z.string().default(''),
  /** Inputs accuracy agreement compares on: the data set's images, else seeded inputs; at least 32 so the bound means something. */
  CVP_BENCH_AGREEMENT_SAMPLES: z.coerce.number().int().min(32).max(10000).default(32),
  /**
   * The data plane steps 6, 8 and 9 deploy scratch deployments on (its base URL, as the gateway's
   * proxy uses it); empty: those steps are recorded as skipped with that reason.
   */
  CVP_INFERENCE_URL: z
    .string()
    .default('http://127.0.0.1:8000')
    .refine((s) => s === '' || /^https?:\/\/[^\s/]+(\/.*)?$/.test(s), 'must be an http(s) URL or empty'),
  /** Images step 6 profiles and steps 8 and 9 send. */
  CVP_BENCH_SERVED_IMAGES: z.coerce.number().int().min(1).max(1000).default(16),
  /** Step 8's profiled window (CPU profile of the serving process); 0 = no profile. */
  CVP_BENCH_PROFILE_SECONDS: z.coerce.number().min(0).max(60).default(3),
  /** How long the data plane has to take a scratch deployment (first status), to load it, and to confirm its removal. */
  CVP_BENCH_SCRATCH_STATUS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
  CVP_BENCH_SCRATCH_LOAD_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(300_000),
  CVP_BENCH_SCRATCH_REMOVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
});
export type BenchConfig = z.infer<typeof benchConfigSchema>;
