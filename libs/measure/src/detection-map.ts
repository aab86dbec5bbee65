import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { OutputTensor } from './agreement';
import { imageToTensor, listImages } from './images';
import { seededRandom } from './rng';
import { percentile, round } from './stats';
import { type Box, decodeYolov8, type Det, iou, nmsClasswise } from './yolo';

/** A ground-truth box in model-input pixels. */
export interface GtBox extends Box {
  cls: number;
}

/** One image's detections (any order) and its ground truth. */
export interface ImageDetections {
  preds: Det[];
  gts: GtBox[];
}

export interface MapResult {
  /** mAP at IoU 0.5; null when the images hold no ground-truth box (nothing to measure). */
  map50: number | null;
  /** COCO mAP averaged over IoU 0.50:0.05:0.95; null as map50. */
  map50_95: number | null;
  /** AP@0.5 of each class that has ground truth (the classes the mean runs over). */
  ap50: Record<number, number>;
  images: number;
  boxes: number;
}

/** COCO's IoU thresholds 0.50, 0.55, ..., 0.95 (rounded so 0.7 is 0.7, not 0.7000000000000001). */
export const COCO_IOU_THRESHOLDS: readonly number[] = Array.from(
  { length: 10 },
  (_, i) => Math.round((0.5 + 0.05 * i) * 100) / 100,
);

/**
 * All-point interpolated AP (VOC 2010+, COCO's continuous form): the area under the precision
 * envelope (precision made non-increasing from the right) over recall. recall/precision are the
 * cumulative values after each detection, highest score first.
 */
export function averagePrecision(recall: readonly number[], precision: readonly number[]): number {
  const r = [0, ...recall, 1];
  const p = [0, ...precision, 0];
  for (let i = p.length - 2; i >= 0; i--) p[i] = Math.max(p[i], p[i + 1]);
  let ap = 0;
  for (let i = 0; i < r.length - 1; i++) if (r[i + 1] !== r[i]) ap += (r[i + 1] - r[i]) * p[i + 1];
  return ap;
}

/** AP of one class at one IoU threshold: greedy matching, highest score first, each GT matched once. */
function classAp(images: readonly ImageDetections[], cls: number, nGt: number, thr: number): number {
  const preds: { img: number; d: Det }[] = [];
  images.forEach((im, img) => {
    for (const d of im.preds) if (d.cls === cls) preds.push({ img, d });
  });
  // Stable sort: equal scores keep image order, so the result does not depend on the engine's tie order.
  preds.sort((a, b) => b.d.score - a.d.score);
  const matched = images.map((im) => new Array<boolean>(im.gts.length).fill(false));
  const recall: number[] = [];
  const precision: number[] = [];
  let tp = 0;
  preds.forEach(({ img, d }, k) => {
    // COCO: a detection takes the best-overlapping ground truth of its class still unmatched.
    let best = -1;
    let bestIou = -1;
    images[img].gts.forEach((g, j) => {
      if (g.cls !== cls || matched[img][j]) return;
      const o = iou(d, g);
      if (o >= thr && o > bestIou) {
        bestIou = o;
        best = j;
      }
    });
    if (best >= 0) {
      matched[img][best] = true;
      tp++;
    }
    recall.push(tp / nGt);
    precision.push(tp / (k + 1));
  });
  return averagePrecision(recall, precision);
}

/**
 * mAP@0.5 and mAP@0.5:0.95 over the classes that have ground truth in these images (COCO: a
 * class without ground truth has no AP, so its detections are left out rather than counted
 * as false positives of nothing). A detection of the wrong class is a false positive of its
 * own class and leaves the ground truth missed.
 */
export function meanAveragePrecision(
  images: readonly ImageDetections[],
  thresholds: readonly number[] = COCO_IOU_THRESHOLDS,
): MapResult {
  const nGt = new Map<number, number>();
  for (const im of images) for (const g of im.gts) nGt.set(g.cls, (nGt.get(g.cls) ?? 0) + 1);
  const classes = [...nGt.keys()].sort((a, b) => a - b);
  const boxes = [...nGt.values()].reduce((a, b) => a + b, 0);
  if (classes.length === 0) return { map50: null, map50_95: null, ap50: {}, images: images.length, boxes: 0 };
  const ap50: Record<number, number> = {};
  let sum50 = 0;
  let sumAll = 0;
  for (const c of classes) {
    const aps = thresholds.map((t) => classAp(images, c, nGt.get(c)!, t));
    const at50 = thresholds.indexOf(0.5) >= 0 ? aps[thresholds.indexOf(0.5)] : classAp(images, c, nGt.get(c)!, 0.5);
    ap50[c] = at50;
    sum50 += at50;
    sumAll += aps.reduce((a, b) => a + b, 0) / aps.length;
  }
  return { map50: sum50 / classes.length, map50_95: sumAll / classes.length, ap50, images: images.length, boxes };
}

/** One labelled image of a YOLO data set: boxes normalised to 0..1 (centre x, centre y, width, height). */
export interface LabelledImage {
  file: string;
  boxes: { cls: number; cx: number; cy: number; w: number; h: number }[];
}

export interface LabelledSet {
  split: string;
  images: LabelledImage[];
  boxes: number;
}

/** Splits tried in order: the held-out ones first; train only when the set has nothing else. */
const EVAL_SPLITS = ['val', 'valid', 'test', 'train'];

/** "cls cx cy w h" -> a box; "cls x1 y1 x2 y2 ..." (a segment polygon) -> its bounding box; else null. */
export function parseYoloLabelLine(line: string): LabelledImage['boxes'][number] | null {
  const nums = line.trim().split(/\s+/).map(Number);
  if (nums.length < 5 || nums.some((x) => !Number.isFinite(x)) || !Number.isInteger(nums[0]) || nums[0] < 0)
    return null;
  const [cls, ...v] = nums;
  if (v.length === 4) return v[2] > 0 && v[3] > 0 ? { cls, cx: v[0], cy: v[1], w: v[2], h: v[3] } : null;
  if (v.length < 6 || v.length % 2) return null;
  const xs = v.filter((_, i) => i % 2 === 0);
  const ys = v.filter((_, i) => i % 2 === 1);
  const [x1, x2, y1, y2] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return x2 > x1 && y2 > y1 ? { cls, cx: (x1 + x2) / 2, cy: (y1 + y2) / 2, w: x2 - x1, h: y2 - y1 } : null;
}

/**
 * The labelled images of a YOLO detection data set (data.yaml, images/<split>/, labels/<split>/),
 * from the first split present of val, valid, test, train; at most `limit` images, sorted, so every
 * candidate sees the same ones. An image without a label file is a background image (no boxes).
 * Null with the reason when the folder is not such a data set.
 */
export async function loadYoloLabelledSet(dir: string, limit: number): Promise<LabelledSet | { reason: string }> {
  const isDir = (p: string) =>
    fs.stat(p).then(
      (s) => s.isDirectory(),
      () => false,
    );
  let split: string | undefined;
  for (const s of EVAL_SPLITS) {
    if (await isDir(path.join(dir, 'images', s))) {
      split = s;
      break;
    }
  }
  if (!split) return { reason: `no images/<split>/ folder (${EVAL_SPLITS.join(', ')}) in the data set` };
  if (!(await isDir(path.join(dir, 'labels', split))))
    return { reason: `no labels/${split}/ folder: the data set has no YOLO labels` };
  const imagesDir = path.join(dir, 'images', split);
  const images: LabelledImage[] = [];
  let boxes = 0;
  for (const file of await listImages(imagesDir, limit)) {
    const rel = path.relative(imagesDir, file);
    const labelFile = path.join(dir, 'labels', split, rel.slice(0, rel.length - path.extname(rel).length) + '.txt');
    const text = await fs.readFile(labelFile, 'utf8').catch(() => '');
    const b = text.split(/\r?\n/).flatMap((l) => (l.trim() ? [parseYoloLabelLine(l)].filter((x) => x !== null) : []));
    boxes += b.length;
    images.push({ file, boxes: b });
  }
  if (images.length === 0) return { reason: `no images in images/${split}/` };
  return { split, images, boxes };
}

/** Interval of this engine's mAP@0.5 minus the baseline's, from a paired bootstrap over the images. */
export interface MapChangeBound {
  lower: number;
  upper: number;
  confidence: number;
  resamples: number;
}

/** What one engine scores on a labelled set; the protocol compares it with the baseline's. */
export interface DetectionMap {
  split: string;
  images: number;
  boxes: number;
  map50: number | null;
  map50_95: number | null;
  /** Against the baseline's matches, when the measurement was given them. */
  changeBound?: MapChangeBound | null;
}

/**
 * One image's detections reduced to what AP@0.5 needs: each detection's class, score and whether it
 * matched a ground truth at IoU 0.5 (the greedy COCO matching within the image), and the ground
 * truth per class. Matching is per image, so AP over any multiset of images can be recomputed from
 * these without the boxes: what the bootstrap does.
 */
export interface ImageMatches {
  /** [class, ground-truth boxes of that class]. */
  gt: [number, number][];
  /** [class, score, 1 when it matched a ground truth at IoU 0.5 else 0], highest score first. */
  dets: [number, number, number][];
}

export function matchImage(preds: readonly Det[], gts: readonly GtBox[], thr = 0.5): ImageMatches {
  const counts = new Map<number, number>();
  for (const g of gts) counts.set(g.cls, (counts.get(g.cls) ?? 0) + 1);
  const order = preds.map((d, i) => ({ d, i })).sort((a, b) => b.d.score - a.d.score || a.i - b.i);
  const matched = new Array<boolean>(gts.length).fill(false);
  const dets: [number, number, number][] = [];
  for (const { d } of order) {
    let best = -1;
    let bestIou = -1;
    gts.forEach((g, j) => {
      if (g.cls !== d.cls || matched[j]) return;
      const o = iou(d, g);
      if (o >= thr && o > bestIou) {
        bestIou = o;
        best = j;
      }
    });
    if (best >= 0) matched[best] = true;
    dets.push([d.cls, d.score, best >= 0 ? 1 : 0]);
  }
  return { gt: [...counts.entries()].sort((a, b) => a[0] - b[0]), dets };
}

/**
 * mAP@0.5 over images given as matches, each counted `weights[i]` times (a bootstrap resample);
 * with every weight 1 it equals meanAveragePrecision's map50. Null without ground truth.
 */
export function map50FromMatches(images: readonly ImageMatches[], weights?: readonly number[]): number | null {
  const w = (i: number) => weights?.[i] ?? 1;
  const nGt = new Map<number, number>();
  images.forEach((im, i) => {
    if (w(i) > 0) for (const [c, n] of im.gt) nGt.set(c, (nGt.get(c) ?? 0) + n * w(i));
  });
  const classes = [...nGt.keys()].filter((c) => nGt.get(c)! > 0);
  if (classes.length === 0) return null;
  let sum = 0;
  for (const c of classes) {
    const entries: { score: number; tp: number; w: number; img: number }[] = [];
    images.forEach((im, img) => {
      const wi = w(img);
      if (wi > 0) for (const [dc, score, tp] of im.dets) if (dc === c) entries.push({ score, tp, w: wi, img });
    });
    // Highest score first; ties keep image order, as meanAveragePrecision's stable sort does.
    entries.sort((a, b) => b.score - a.score || a.img - b.img);
    const recall: number[] = [];
    const precision: number[] = [];
    let tp = 0;
    let n = 0;
    // A weight of k is k copies of the image: equal-score copies in a row leave the precision
    // envelope's area unchanged, so one step of k stands for them.
    for (const e of entries) {
      tp += e.tp * e.w;
      n += e.w;
      recall.push(tp / nGt.get(c)!);
      precision.push(tp / n);
    }
    sum += averagePrecision(recall, precision);
  }
  return sum / classes.length;
}

/**
 * Paired bootstrap of (candidate mAP@0.5 - baseline mAP@0.5): resample the images with
 * replacement, score both models on the same resample, and take the central `confidence` share of
 * the differences. Seeded, so the same matches give the same interval. Null when the two were not
 * scored on the same images.
 */
export function pairedBootstrapMapChange(
  baseline: readonly ImageMatches[],
  candidate: readonly ImageMatches[],
  o: { resamples?: number; seed?: number; confidence?: number } = {},
): MapChangeBound | null {
  const n = baseline.length;
  if (n === 0 || candidate.length !== n) return null;
  const resamples = o.resamples ?? 1000;
  const confidence = o.confidence ?? 0.95;
  const rnd = seededRandom(o.seed ?? 0);
  const diffs: number[] = [];
  const weights = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    weights.fill(0);
    for (let k = 0; k < n; k++) weights[Math.floor(rnd() * n)]++;
    const b = map50FromMatches(baseline, weights);
    const c = map50FromMatches(candidate, weights);
    // A resample without any ground truth has no mAP on either side: no difference to record.
    if (b !== null && c !== null) diffs.push(c - b);
  }
  if (diffs.length === 0) return null;
  diffs.sort((a, b) => a - b);
  const tail = ((1 - confidence) / 2) * 100;
  return {
    lower: round(percentile(diffs, tail), 6),
    upper: round(percentile(diffs, 100 - tail), 6),
    confidence,
    resamples,
  };
}

/**
 * Validation-style thresholds (as Ultralytics' val): keep nearly every box so the whole
 * precision/recall curve is measured, NMS at IoU 0.7, at most 300 boxes an image.
 */
export const MAP_DECODE = { conf: 0.001, iou: 0.7, maxDet: 300 } as const;

/** A YOLOv8 head's output [1, 4+nc, N] as detections at the validation thresholds (MAP_DECODE). */
export function validationDetections(out: OutputTensor): Det[] {
  if (out.dims.length !== 3 || out.dims[0] !== 1 || out.dims[1] < 5)
    throw new Error(
      `not a YOLOv8 detection head: output shape [${out.dims.join(', ')}], expected [1, 4 + classes, anchors]`,
    );
  return nmsClasswise(
    decodeYolov8(out.data, out.dims[1], out.dims[2], MAP_DECODE.conf),
    MAP_DECODE.iou,
    MAP_DECODE.maxDet,
  );
}

/** A detector's score on a labelled set, with the per-image matches a paired bootstrap needs. */
export interface DetectorEvaluation extends DetectionMap {
  matches: ImageMatches[];
}

/**
 * Runs a detector (YOLOv8 head [1, 4+nc, N], boxes in input pixels) over the labelled images,
 * resized to the model input like every other bench input, and scores its detections. `infer`
 * runs one [1, c, h, w] sample and returns the first output; `known` holds detections of images
 * the caller already ran (same pre-processing), which are not run again.
 */
export async function evaluateDetector(
  set: LabelledSet,
  inputShape: readonly number[],
  infer: (sample: Float32Array) => Promise<OutputTensor>,
  signal?: AbortSignal,
  known?: ReadonlyMap<string, Det[]>,
): Promise<DetectorEvaluation> {
  const [, c, h, w] = inputShape;
  const evals: ImageDetections[] = [];
  for (const im of set.images) {
    signal?.throwIfAborted();
    const preds =
      known?.get(im.file) ??
      validationDetections(await infer(await imageToTensor(await fs.readFile(im.file), c, h, w)));
    // Labels are normalised to the image; the fill-resize maps them to input pixels by scaling alone.
    const gts = im.boxes.map((b) => ({
      cls: b.cls,
      x1: (b.cx - b.w / 2) * w,
      y1: (b.cy - b.h / 2) * h,
      x2: (b.cx + b.w / 2) * w,
      y2: (b.cy + b.h / 2) * h,
    }));
    evals.push({ preds, gts });
  }
  const m = meanAveragePrecision(evals);
  return {
    split: set.split,
    images: m.images,
    boxes: m.boxes,
    map50: m.map50 === null ? null : round(m.map50, 6),
    map50_95: m.map50_95 === null ? null : round(m.map50_95, 6),
    matches: evals.map((e) => matchImage(e.preds, e.gts)),
  };
}
