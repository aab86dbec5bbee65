import type { GraphOptLevel, TimeSplit } from '@cvp/contracts';
import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-node';
import type { OutputTensor } from './agreement';
import { processVramMb } from './environment';
import { imageToTensor } from './images';
import { type EngineMeasurement, type EngineUnderTest, measureEngine, type MeasurementPlan } from './measurement';
import { round } from './stats';
import { decodeYolov8, nmsClasswise, topkProbs } from './yolo';

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

const providerName: Record<string, string> = { cpu: 'cpu', cuda: 'cuda', tensorrt: 'tensorrt' };

export async function createOrtSession(
  modelPath: string,
  o: { graphOptimization: GraphOptLevel; threads: number; provider?: string },
): Promise<OrtSession> {
  return ort().InferenceSession.create(modelPath, {
    graphOptimizationLevel: o.graphOptimization,
    ...(o.threads > 0 ? { intraOpNumThreads: o.threads } : {}),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    executionProviders: [providerName[o.provider ?? 'cpu'] ?? 'cpu'],
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
    // Image decode + resize (pre), the model (infer), decoding/NMS or top-5 (post), in this process.
    timeSplit: async (image, n, signal): Promise<TimeSplit> => {
      const [, c, h, w] = req.inputShape;
      const out0 = session.outputNames[0];
      let pre = 0;
      let inf = 0;
      let post = 0;
      for (let i = 0; i < n; i++) {
        signal?.throwIfAborted();
        const a = process.hrtime.bigint();
        const tensor = new Tensor('float32', await imageToTensor(image, c, h, w), req.inputShape);
        const b = process.hrtime.bigint();
        const res = await session.run({ [inputName]: tensor });
        const d = process.hrtime.bigint();
        const out = res[out0];
        // The serving path's post-processing and thresholds (apps/inference: conf 0.25, IoU 0.45, 300 boxes).
        if (req.task === 'detect' && out.dims.length === 3)
          nmsClasswise(
            decodeYolov8(out.data as Float32Array, Number(out.dims[1]), Number(out.dims[2]), 0.25),
            0.45,
            300,
          );
        else if (req.task === 'classify') topkProbs(out.data as Float32Array, 5);
        const e = process.hrtime.bigint();
        pre += Number(b - a);
        inf += Number(d - b);
        post += Number(e - d);
      }
      return { preMs: round(pre / n / 1e6), inferMs: round(inf / n / 1e6), postMs: round(post / n / 1e6) };
    },
    // The engine is alone in this process (bench runs each configuration in its own child).
    peakRssMb: () => round(process.resourceUsage().maxRSS / 1024, 1),
    peakVramMb: () => ((req.provider ?? 'cpu') === 'cpu' ? null : processVramMb(process.pid)),
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
