import { gpuNodeConfigShape } from '@cvp/gpu-lease';
import { artifactsConfigShape } from '@cvp/artifacts';
import { baseConfigSchema, portKey } from '@cvp/platform';
import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** inference config: environment values validated at start-up; every key has a local default. */
export const inferenceConfigSchema = baseConfigSchema.extend({
  /** Where artifacts move between hosts (CVP_ARTIFACTS, local by default). */
  ...artifactsConfigShape,
  /** The GPU pool this machine's leases count against (CVP_GPU_NODE, default: the host name). */
  ...gpuNodeConfigShape,
  CVP_INFERENCE_PORT: portKey(8000),
  /** The native core's gRPC address (loopback). */
  CVP_NATIVE_ADDR: z
    .string()
    .regex(/^[A-Za-z0-9.\-[\]:]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:8001'),
  /** Requests running at once, all models together. */
  CVP_INFER_WORKERS: int(10, 1, 1024),
  /** Requests waiting for a worker; beyond it 429 at once. Sized for 100 users on the default pool. */
  CVP_INFER_QUEUE_CAP: int(256, 0, 100_000),
  /** Per-request deadline: queue wait plus run time. */
  CVP_INFER_DEADLINE_MS: int(30_000, 10, 600_000),
  /** Request body cap (tensors or image). */
  CVP_INFER_MAX_BODY_MB: int(64, 1, 1024),
  /** Decoded image cap (pixels), against image bombs. */
  CVP_INFER_MAX_IMAGE_PIXELS: int(40_000_000, 1, 1_000_000_000),
  /** Per-model engine queue (ort-node runner, native core) behind the worker pool. */
  CVP_INFER_ENGINE_QUEUE_CAP: int(1024, 1, 100_000),
  /** How long a dynamic batch may wait to fill, when a deployment's maxBatch > 1. */
  CVP_INFER_BATCH_DELAY_US: int(2000, 0, 1_000_000),
  /**
   * Request bodies and model outputs are read and written in reused shared buffers; idle ones
   * beyond this many MB (or idle for 30 s) are let go.
   */
  CVP_INFER_IDLE_BUFFERS_MB: int(256, 0, 65_536),
  /**
   * How far V8 lets this process's heap grow past what a full GC left live (percent; 0 = V8's own
   * heuristics). Bodies and outputs of MBs a request count as external memory, which V8 adds to
   * the heap when it decides to mark: with its default growth on a ~30 MB heap, 50 MB/s of request
   * bytes ran a full mark-compact about every 200 ms, costing a quarter of a core on the thread
   * that serves every socket (bench/results/load-bench.json, gcMajorPer100).
   */
  CVP_INFER_HEAP_GROWTH_PERCENT: int(400, 0, 1000),
  /** Bound on one model load + warm-up. */
  CVP_INFER_LOAD_TIMEOUT_MS: int(600_000, 1000, 3_600_000),
  /**
   * Credentials on /v2 (API keys or gateway access tokens, checked through the gateway): `auto`
   * requires them whenever CVP_HOST is not loopback; `required` always; `off` never.
   */
  CVP_INFER_AUTH: z.enum(['auto', 'required', 'off']).default('auto'),
  /** When set, GET /metrics needs `Authorization: Bearer <token>` (health stays open). */
  CVP_METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** Bound on one credential check through the gateway. */
  CVP_INFER_AUTH_TIMEOUT_MS: int(2000, 50, 60_000),
});
export type InferenceConfig = z.infer<typeof inferenceConfigSchema>;
