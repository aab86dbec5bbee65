import sharp from 'sharp';
import type { OutputTensor } from './agreement';
import { computeLetterbox, letterboxToChw, normalizeToChw, unletterboxBox } from './letterbox';
import { percentile, round } from './stats';
import { decodeYolov8, nmsClasswise, topkProbs } from './yolo';

/** The data plane's detection defaults (query conf, iou, max_det of /detect) and classification top_k. */
export const SERVING_DETECT = { conf: 0.25, iou: 0.45, maxDet: 300 } as const;
export const SERVING_TOP_K = 5;

export interface StageTiming {
  stage: string;
  /** What the stage does, in the data plane's terms. */
  what: string;
  meanMs: number;
  p95Ms: number;
  /** Share of the stages' summed mean. */
  pct: number;
}

export interface StageSplit {
  images: number;
  stages: StageTiming[];
  totalMeanMs: number;
}

/**
 * Decodes an encoded image and resizes it to w x h RGB (HWC uint8) in one libvips pipeline, with
 * the options of the data plane's ort-node engine (apps/inference/src/vision/image-input.ts):
 * alpha dropped, sRGB, `fill` resize with the linear kernel, EXIF orientation ignored as the
 * native core does. Unlike the data plane it does not police sizes: bench reads its own data set.
 */
export async function decodeResized(
  image: Buffer,
  w: number,
  h: number,
): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const img = sharp(image, { limitInputPixels: 64e6, failOn: 'error', sequentialRead: true });
  const meta = await img.metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  const base = img.removeAlpha().toColourspace('srgb');
  const pipeline = w !== width || h !== height ? base.resize(w, h, { fit: 'fill', kernel: 'linear' }) : base;
  const { data } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { rgb: data, width, height };
}

/** Metadata read (header only): the source size the letterbox is computed from. */
async function sizeOf(image: Buffer): Promise<{ width: number; height: number }> {
  const m = await sharp(image, { limitInputPixels: 64e6 }).metadata();
  return { width: m.width ?? 0, height: m.height ?? 0 };
}

const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;

/**
 * Where one request's CPU time goes in the data plane's own pipeline (ort-node engine), stage by
 * stage, on real images: decode + resize (one libvips pipeline, as the service runs it), letterbox
 * padding + normalisation to CHW float, the model (`infer`), and post-processing (YOLOv8 decode,
 * class-wise NMS at the serving thresholds, boxes mapped back to the image; top-5 for classifiers).
 * Stages the service fuses are timed fused. The native engine does the same stages in C++; its
 * split is what its answers report (pre, infer, post).
 */
export async function profileServingStages(o: {
  images: Buffer[];
  /** Batch-1 NCHW input of the model. */
  inputShape: readonly number[];
  task: 'detect' | 'classify';
  infer: (tensor: Float32Array, shape: readonly number[]) => Promise<OutputTensor>;
  signal?: AbortSignal;
}): Promise<StageSplit> {
  const [, , h, w] = o.inputShape;
  const names =
    o.task === 'detect'
      ? [
          ['decode+resize', 'libvips decode and resize to the letterboxed size'],
          ['letterbox+normalise', 'padding (114) and /255 into a CHW float tensor'],
          ['infer', 'the model (onnxruntime-node, CPU, in this process)'],
          [
            'nms',
            `YOLOv8 head decode (conf ${SERVING_DETECT.conf}), class-wise NMS (IoU ${SERVING_DETECT.iou}), boxes back to the image`,
          ],
        ]
      : [
          ['decode+resize', `libvips decode and resize to ${w}x${h}`],
          ['normalise', 'ImageNet mean/std into a CHW float tensor'],
          ['infer', 'the model (onnxruntime-node, CPU, in this process)'],
          ['top-k', `softmax and top ${SERVING_TOP_K}`],
        ];
  const times: number[][] = names.map(() => []);
  const out = new Float32Array(3 * w * h);
  for (const image of o.images) {
    o.signal?.throwIfAborted();
    if (o.task === 'detect') {
      const t0 = process.hrtime.bigint();
      const { width, height } = await sizeOf(image);
      const lb = computeLetterbox(width, height, w, h);
      const { rgb } = await decodeResized(image, lb.newW, lb.newH);
      const t1 = process.hrtime.bigint();
      letterboxToChw(rgb, lb, out);
      const t2 = process.hrtime.bigint();
      const y = await o.infer(out, o.inputShape);
      const t3 = process.hrtime.bigint();
      if (y.dims.length === 3)
        for (const d of nmsClasswise(
          decodeYolov8(y.data, y.dims[1], y.dims[2], SERVING_DETECT.conf),
          SERVING_DETECT.iou,
          SERVING_DETECT.maxDet,
        ))
          unletterboxBox(lb, [d.x1, d.y1, d.x2, d.y2]);
      const t4 = process.hrtime.bigint();
      [ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4)].forEach((v, i) => times[i].push(v));
    } else {
      const t0 = process.hrtime.bigint();
      const { rgb } = await decodeResized(image, w, h);
      const t1 = process.hrtime.bigint();
      normalizeToChw(rgb, w, h, undefined, undefined, out);
      const t2 = process.hrtime.bigint();
      const y = await o.infer(out, o.inputShape);
      const t3 = process.hrtime.bigint();
      topkProbs(y.data, SERVING_TOP_K);
      const t4 = process.hrtime.bigint();
      [ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4)].forEach((v, i) => times[i].push(v));
    }
  }
  const means = times.map((t) => (t.length ? t.reduce((a, b) => a + b, 0) / t.length : 0));
  const total = means.reduce((a, b) => a + b, 0);
  return {
    images: o.images.length,
    stages: names.map(([stage, what], i) => ({
      stage,
      what,
      meanMs: round(means[i]),
      p95Ms: round(
        percentile(
          [...times[i]].sort((a, b) => a - b),
          95,
        ),
      ),
      pct: round(total > 0 ? (100 * means[i]) / total : 0, 1),
    })),
    totalMeanMs: round(total),
  };
}
