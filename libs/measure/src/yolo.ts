/**
 * YOLOv8 post-processing, a line-for-line match of the native core (native/src/postprocess.cpp):
 * head decode (best class per anchor over [4 + nc, n]), class-wise NMS, top-k probabilities.
 */
/** Corners in input pixels. */
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Det extends Box {
  cls: number;
  score: number;
}

export function iou(a: Box, b: Box): number {
  const ix1 = Math.max(a.x1, b.x1);
  const iy1 = Math.max(a.y1, b.y1);
  const ix2 = Math.min(a.x2, b.x2);
  const iy2 = Math.min(a.y2, b.y2);
  const inter = Math.max(0, ix2 - ix1) * Math.max(0, iy2 - iy1);
  const ua =
    Math.max(0, a.x2 - a.x1) * Math.max(0, a.y2 - a.y1) + Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1) - inter;
  return ua > 0 ? inter / ua : 0;
}

/**
 * Decodes one image's head output, channel-major [4 + nc, anchors]: cx, cy, w, h, then one score
 * per class. `offset` selects the image inside a batch without copying.
 */
export function decodeYolov8(data: Float32Array, channels: number, anchors: number, conf: number, offset = 0): Det[] {
  const out: Det[] = [];
  const nc = channels - 4;
  if (nc <= 0 || anchors <= 0) return out;
  // Scan class rows in memory order (row by row) so the loop walks the buffer sequentially.
  const bestS = new Float32Array(anchors).fill(-1);
  const best = new Int32Array(anchors).fill(-1);
  for (let c = 0; c < nc; c++) {
    const row = offset + (4 + c) * anchors;
    for (let a = 0; a < anchors; a++) {
      const s = data[row + a];
      if (s > bestS[a]) {
        bestS[a] = s;
        best[a] = c;
      }
    }
  }
  for (let a = 0; a < anchors; a++) {
    const s = bestS[a];
    if (best[a] < 0 || !(s >= conf)) continue; // also drops NaN scores
    const cx = data[offset + a];
    const cy = data[offset + anchors + a];
    const w = data[offset + 2 * anchors + a];
    const h = data[offset + 3 * anchors + a];
    if (!Number.isFinite(cx) || !Number.isFinite(cy) || !Number.isFinite(w) || !Number.isFinite(h)) continue;
    out.push({ cls: best[a], score: s, x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 });
  }
  return out;
}

/** Class-wise NMS: a box suppresses only boxes of its own class with IoU > iouThr; sorted by score, max maxDet. */
export function nmsClasswise(dets: Det[], iouThr: number, maxDet: number): Det[] {
  // Array.prototype.sort is stable: equal scores keep input order, so results are deterministic.
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: Det[] = [];
  const byClass = new Map<number, Det[]>();
  for (const d of sorted) {
    if (maxDet > 0 && kept.length >= maxDet) break;
    const same = byClass.get(d.cls);
    if (same && same.some((k) => iou(k, d) > iouThr)) continue;
    if (same) same.push(d);
    else byClass.set(d.cls, [d]);
    kept.push(d);
  }
  return kept;
}

/** Top-k (class, probability); applies softmax unless the values already form a distribution. */
export function topkProbs(values: ArrayLike<number>, k: number): { classId: number; score: number }[] {
  const n = values.length;
  if (n <= 0) return [];
  const p = Float64Array.from(values as ArrayLike<number>);
  let isDist = true;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (!(p[i] >= 0 && p[i] <= 1)) isDist = false;
    sum += p[i];
  }
  if (!isDist || Math.abs(sum - 1) > 1e-3) {
    let mx = -Infinity;
    for (let i = 0; i < n; i++) if (p[i] > mx) mx = p[i];
    let z = 0;
    for (let i = 0; i < n; i++) {
      p[i] = Math.exp(p[i] - mx);
      z += p[i];
    }
    for (let i = 0; i < n; i++) p[i] /= z;
  }
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => p[b] - p[a] || a - b);
  return idx.slice(0, Math.min(Math.max(k, 1), n)).map((i) => ({ classId: i, score: Math.fround(p[i]) }));
}
