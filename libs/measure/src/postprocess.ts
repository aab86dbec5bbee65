/** Post-processing the serving path runs after inference, timed by the protocol's step 6. */
export interface Detection {
  classId: number;
  score: number;
  box: [number, number, number, number];
}

/**
 * YOLOv8 head output [1, 4+nc, N] (cx, cy, w, h, class scores) -> detections after
 * class-aware NMS. Bounded: at most maxDet boxes, candidates capped before the O(n^2) NMS.
 */
export function decodeYolo(data: Float32Array, dims: readonly number[], conf = 0.25, iou = 0.45, maxDet = 300): Detection[] {
  const rows = dims[1];
  const n = dims[2];
  const cands: Detection[] = [];
  for (let i = 0; i < n; i++) {
    let best = -1;
    let cls = 0;
    for (let c = 4; c < rows; c++) {
      const s = data[c * n + i];
      if (s > best) {
        best = s;
        cls = c - 4;
      }
    }
    if (best < conf) continue;
    const cx = data[i];
    const cy = data[n + i];
    const w = data[2 * n + i];
    const h = data[3 * n + i];
    cands.push({ classId: cls, score: best, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  }
  cands.sort((a, b) => b.score - a.score);
  const pool = cands.slice(0, 3000);
  const kept: Detection[] = [];
  for (const d of pool) {
    if (kept.length >= maxDet) break;
    if (kept.every((k) => k.classId !== d.classId || iouOf(k.box, d.box) <= iou)) kept.push(d);
  }
  return kept;
}

function iouOf(a: readonly number[], b: readonly number[]): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Classifier logits [1, K] -> top-k classes with softmax probabilities. */
export function topK(logits: Float32Array, k = 5): { classId: number; score: number }[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  const probs = Array.from(logits, (v) => {
    const e = Math.exp(v - max);
    sum += e;
    return e;
  });
  return probs
    .map((p, classId) => ({ classId, score: p / sum }))
    .sort((a, b) => b.score - a.score || a.classId - b.classId)
    .slice(0, k);
}
