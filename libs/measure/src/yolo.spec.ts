import { decodeYolov8, iou, nmsClasswise, topkProbs } from './yolo';

/** Builds a channel-major [4 + nc, n] head output from per-anchor rows. */
function head(rows: { cx: number; cy: number; w: number; h: number; scores: number[] }[]): Float32Array {
  const n = rows.length;
  const nc = rows[0].scores.length;
  const out = new Float32Array((4 + nc) * n);
  rows.forEach((r, a) => {
    out[a] = r.cx;
    out[n + a] = r.cy;
    out[2 * n + a] = r.w;
    out[3 * n + a] = r.h;
    r.scores.forEach((s, c) => (out[(4 + c) * n + a] = s));
  });
  return out;
}

describe('YOLOv8 decode + class-wise NMS (mirror of native/src/postprocess.cpp)', () => {
  const rows = [
    { cx: 32, cy: 32, w: 20, h: 10, scores: [0.9, 0.1] },
    { cx: 33, cy: 32, w: 20, h: 10, scores: [0.8, 0.05] },
    { cx: 10, cy: 40, w: 8, h: 8, scores: [0.1, 0.7] },
    { cx: 50, cy: 50, w: 4, h: 4, scores: [0.2, 0.1] },
    { cx: NaN, cy: 1, w: 1, h: 1, scores: [0.99, 0] },
  ];

  it('keeps the best class per anchor above the threshold and drops NaN boxes', () => {
    const d = decodeYolov8(head(rows), 6, 5, 0.25);
    expect(d.map((x) => [x.cls, +x.score.toFixed(2)])).toEqual([
      [0, 0.9],
      [0, 0.8],
      [1, 0.7],
    ]);
    expect(d[0]).toMatchObject({ x1: 22, y1: 27, x2: 42, y2: 37 });
    expect(decodeYolov8(head(rows), 4, 5, 0.25)).toEqual([]);
  });

  it('decodes one image of a batch by offset without copying', () => {
    const one = head(rows);
    const batch = new Float32Array(one.length * 2);
    batch.set(one, one.length);
    expect(decodeYolov8(batch, 6, 5, 0.25, one.length)).toEqual(decodeYolov8(one, 6, 5, 0.25));
  });

  it('suppresses only overlapping boxes of the same class, sorted by score, capped', () => {
    const d = decodeYolov8(head(rows), 6, 5, 0.25);
    const kept = nmsClasswise(d, 0.45, 300);
    expect(kept.map((k) => k.score.toFixed(1))).toEqual(['0.9', '0.7']);
    // a different class at the very same place is kept
    const other = { ...d[1], cls: 1 };
    expect(nmsClasswise([d[0], other], 0.45, 300)).toHaveLength(2);
    expect(nmsClasswise(d, 0.45, 1)).toHaveLength(1);
    expect(nmsClasswise(d, 0.99, 300)).toHaveLength(3);
  });

  it('computes IoU, 0 for disjoint or empty boxes', () => {
    const a = { cls: 0, score: 1, x1: 0, y1: 0, x2: 10, y2: 10 };
    expect(iou(a, { ...a, x1: 5, x2: 15 })).toBeCloseTo(50 / 150, 6);
    expect(iou(a, { ...a, x1: 20, x2: 30 })).toBe(0);
    expect(iou({ ...a, x2: 0, y2: 0 }, { ...a, x2: 0, y2: 0 })).toBe(0);
  });

  it('top-k applies softmax to logits but keeps a distribution, ties by class id', () => {
    const t = topkProbs([1, 3, 2], 2);
    expect(t.map((x) => x.classId)).toEqual([1, 2]);
    expect(t[0].score).toBeCloseTo(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)), 5);
    expect(topkProbs([0.2, 0.5, 0.3], 5).map((x) => [x.classId, x.score])).toEqual([
      [1, Math.fround(0.5)],
      [2, Math.fround(0.3)],
      [0, Math.fround(0.2)],
    ]);
    expect(topkProbs([0.5, 0.5], 1)[0].classId).toBe(0);
    expect(topkProbs([], 3)).toEqual([]);
  });
});
