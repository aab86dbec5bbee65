import type { GraphOptLevel } from '@cvp/contracts';
import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-node';
import type { OutputTensor } from './agreement';
import { ownVramPeak } from './environment';
import { type EngineMeasurement, type EngineUnderTest, measureEngine, type MeasurementPlan } from './measurement';
import { round } from './stats';

/**
 * onnxruntime-node, loaded on first use: apps/inference imports this lib for YOLO post-processing
 * (./yolo) and keeps onnxruntime-node out of its main thread (its sessions live in worker threads).
 */
let ortModule: typeof import('onnxruntime-node') | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = () => (ortModule ??= require('onnxruntime-node') as typeof import('onnxruntime-node'));

/** One onnxruntime-node configuration and what to measure on it. */
export interface OrtMeasureRequest extends MeasurementPlan {
  modelPath: string;
  provider?: 'cpu' | 'cuda' | 'tensorrt';
  graphOptimization: GraphOptLevel;
  /** Intra-op threads; 0 = ONNX Runtime's default. */
  threads: number;
}

export interface OrtMeasureResult extends EngineMeasurement {
  inputName: string;
}

/**
 * The providers a configuration runs on, as the data plane's ort-node engine sets them: nodes
 * TensorRT does not take fall back to CUDA, not to the CPU. (onnxruntime-node gives the TensorRT
 * provider only a device id, so it runs in FP32 here: TensorRT FP16 is measured on the native engine.)
 */
export function ortProviderList(provider: string | undefined): string[] {
  if (provider === 'tensorrt') return ['tensorrt', 'cuda'];
  if (provider === 'cuda') return ['cuda'];
  return ['cpu'];
}

export async function createOrtSession(
  modelPath: string,
  o: { graphOptimization: GraphOptLevel; threads: number; provider?: string },
): Promise<OrtSession> {
  return ort().InferenceSession.create(modelPath, {
    graphOptimizationLevel: o.graphOptimization,
    ...(o.threads > 0 ? { intraOpNumThreads: o.threads } : {}),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    executionProviders: ortProviderList(o.provider),
  });
}

function toOutputs(res: Record<string, OrtTensor>, names: readonly string[]): OutputTensor[] {
  return names.map((n) => ({ data: Float32Array.from(res[n].data as Float32Array), dims: res[n].dims.map(Number) }));
}

/** A session in this process, as the shared measurement drives it. */
function ortEngine(session: OrtSession, req: OrtMeasureRequest): EngineUnderTest {
  const { Tensor } = ort();
  const inputName = session.inputNames[0];
  const feed = (input: Float32Array, shape: readonly number[]) => ({
    [inputName]: new Tensor('float32', input, [...shape]),
  });
  return {
    prepare: (input, shape) => {
      const feeds = feed(input, shape);
      return () => session.run(feeds);
    },
    outputs: async (input, shape) => toOutputs(await session.run(feed(input, shape)), session.outputNames),
    // The engine is alone in this process (bench runs each configuration in its own child).
    peakRssMb: () => round(process.resourceUsage().maxRSS / 1024, 1),
    // GPU configurations: the child watched its own VRAM from before the session existed (watchProcessVram).
    vram: async () =>
      (req.provider ?? 'cpu') === 'cpu' ? { peakMb: null, reason: 'CPU engine: uses no GPU memory' } : ownVramPeak(),
  };
}

/** Measures one onnxruntime-node configuration in this process (see measureEngine for what is measured). */
export async function measureOrt(req: OrtMeasureRequest, signal?: AbortSignal): Promise<OrtMeasureResult> {
  const t0 = process.hrtime.bigint();
  const session = await createOrtSession(req.modelPath, req);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  try {
    return {
      inputName: session.inputNames[0],
      ...(await measureEngine(ortEngine(session, req), buildMs, req, signal)),
    };
  } finally {
    await session.release().catch(() => undefined);
  }
}
