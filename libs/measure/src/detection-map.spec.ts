import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Agreement } from '@cvp/contracts';
import { compareOutputs, withMapChange } from './agreement';
import {
  averagePrecision,
  COCO_IOU_THRESHOLDS,
  type GtBox,
  type ImageDetections,
  loadYoloLabelledSet,
  map50FromMatches,
  matchImage,
  meanAveragePrecision,
  pairedBootstrapMapChange,
  parseYoloLabelLine,
} from './detection-map';
import { seededRandom } from './rng';
import type { Det } from './yolo';

const gt = (x1: number, y1: number, x2: number, y2: number, cls = 0): GtBox => ({ cls, x1, y1, x2, y2 });
const det = (x1: number, y1: number, x2: number, y2: number, score: number, cls = 0): Det => ({
  cls,
  score,
  x1,
  y1,
  x2,
  y2,
});
const A = gt(0, 0, 10, 10);
const B = gt(50, 50, 60, 60);

describe('meanAveragePrecision (all-point interpolated AP, COCO IoU thresholds)', () => {
  // Every expected value is worked out by hand in the case's note.
  it.each<{ name: string; images: ImageDetections[]; map50: number | null; map50_95: number | null }>([
    {
      name: 'perfect: one exact detection per ground truth -> 1 at every threshold',
      images: [{ gts: [A, B], preds: [det(0, 0, 10, 10, 0.9), det(50, 50, 60, 60, 0.8)] }],
      map50: 1,
      map50_95: 1,
    },
    {
      name: 'one false positive scored below the true one: precision 1 up to full recall -> 1',
      images: [{ gts: [A], preds: [det(0, 0, 10, 10, 0.9), det(30, 30, 40, 40, 0.5)] }],
      map50: 1,
      map50_95: 1,
    },
    {
      name: 'one false positive scored above the true one: P = 0 then 1/2 at recall 1 -> 0.5',
      images: [{ gts: [A], preds: [det(30, 30, 40, 40, 0.95), det(0, 0, 10, 10, 0.9)] }],
      map50: 0.5,
      map50_95: 0.5,
    },
    {
      name: 'a duplicate of a matched box is a false positive after full recall -> 1',
      images: [{ gts: [A], preds: [det(0, 0, 10, 10, 0.9), det(0, 0, 10, 10, 0.8)] }],
      map50: 1,
      map50_95: 1,
    },
    {
      name: 'missed ground truth: recall stops at 1/2 with precision 1 -> 0.5',
      images: [{ gts: [A, B], preds: [det(0, 0, 10, 10, 0.9)] }],
      map50: 0.5,
      map50_95: 0.5,
    },
    { name: 'no detections at all -> 0', images: [{ gts: [A], preds: [] }], map50: 0, map50_95: 0 },
    {
      name: 'class mismatch: the box is right, the class wrong; class 0 missed, class 1 has no ground truth (not averaged) -> 0',
      images: [{ gts: [A], preds: [det(0, 0, 10, 10, 0.9, 1)] }],
      map50: 0,
      map50_95: 0,
    },
    {
      name: 'two classes, one perfect and one missed -> mean of 1 and 0',
      images: [{ gts: [A, gt(50, 50, 60, 60, 1)], preds: [det(0, 0, 10, 10, 0.9, 0)] }],
      map50: 0.5,
      map50_95: 0.5,
    },
    {
      name: 'IoU just above 0.5 (100 / 199 = 0.5025): a hit at 0.50 only -> 1 and 1/10',
      images: [{ gts: [A], preds: [det(0, 0, 10, 19.9, 0.9)] }],
      map50: 1,
      map50_95: 0.1,
    },
    {
      name: 'IoU exactly 0.5 (100 / 200) counts at 0.50 (>=)',
      images: [{ gts: [A], preds: [det(0, 0, 10, 20, 0.9)] }],
      map50: 1,
      map50_95: 0.1,
    },
    {
      name: 'IoU just below 0.5 (100 / 201 = 0.4975): a miss everywhere -> 0',
      images: [{ gts: [A], preds: [det(0, 0, 10, 20.1, 0.9)] }],
      map50: 0,
      map50_95: 0,
    },
    {
      name: 'ranking across images: TP .9, FP .8, TP .7 over 2 ground truths -> 1/2 x 1 + 1/2 x 2/3 = 5/6',
      images: [
        { gts: [A], preds: [det(0, 0, 10, 10, 0.9)] },
        { gts: [B], preds: [det(0, 0, 5, 5, 0.8), det(50, 50, 60, 60, 0.7)] },
      ],
      map50: 5 / 6,
      map50_95: 5 / 6,
    },
    {
      name: 'a background image (no ground truth) still contributes its false positives',
      images: [
        { gts: [A], preds: [det(0, 0, 10, 10, 0.7)] },
        { gts: [], preds: [det(0, 0, 10, 10, 0.9)] },
      ],
      map50: 0.5,
      map50_95: 0.5,
    },
    {
      name: 'no ground truth anywhere: nothing to measure -> null',
      images: [{ gts: [], preds: [det(0, 0, 10, 10, 0.9)] }],
      map50: null,
      map50_95: null,
    },
  ])('$name', ({ images, map50, map50_95 }) => {
    const r = meanAveragePrecision(images);
    if (map50 === null) {
      expect(r).toMatchObject({ map50: null, map50_95: null, boxes: 0 });
      return;
    }
    expect(r.map50).toBeCloseTo(map50, 10);
    expect(r.map50_95).toBeCloseTo(map50_95!, 10);
    expect(r.images).toBe(images.length);
    expect(r.boxes).toBe(images.reduce((s, im) => s + im.gts.length, 0));
  });

  it('does not depend on the order of detections within an image', () => {
    const preds = [det(30, 30, 40, 40, 0.95), det(0, 0, 10, 10, 0.9), det(50, 50, 60, 61, 0.4)];
    const a = meanAveragePrecision([{ gts: [A, B], preds }]);
    expect(meanAveragePrecision([{ gts: [A, B], preds: [...preds].reverse() }])).toEqual(a);
  });

  it('a detection takes the best-overlapping unmatched ground truth', () => {
    // Two overlapping ground truths; the first detection overlaps the second one better and must not steal the first.
    const g1 = gt(0, 0, 10, 10);
    const g2 = gt(2, 0, 12, 10);
    const r = meanAveragePrecision([{ gts: [g1, g2], preds: [det(2, 0, 12, 10, 0.9), det(0, 0, 10, 10, 0.8)] }], [0.9]);
    expect(r.map50).toBe(1);
  });

  it('COCO thresholds are 0.50..0.95 in steps of 0.05', () => {
    expect(COCO_IOU_THRESHOLDS).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]);
  });

  it.each([
    { recall: [1], precision: [1], ap: 1 },
    { recall: [0.5, 0.5, 1], precision: [1, 0.5, 2 / 3], ap: 0.5 + 0.5 * (2 / 3) },
    { recall: [0, 0.5], precision: [0, 0.5], ap: 0.25 },
    { recall: [], precision: [], ap: 0 },
  ])('averagePrecision: all-point interpolation ($ap)', ({ recall, precision, ap }) => {
    expect(averagePrecision(recall, precision)).toBeCloseTo(ap, 10);
  });
});

describe('YOLO labels', () => {
  it.each([
    { line: '0 0.5 0.5 0.2 0.4', box: { cls: 0, cx: 0.5, cy: 0.5, w: 0.2, h: 0.4 } },
    { line: '2 0.1 0.1 0.3 0.1 0.3 0.5', box: { cls: 2, cx: 0.2, cy: 0.3, w: 0.2, h: 0.4 } },
    { line: '1 0.5 0.5 0 0.4', box: null },
    { line: 'x 0.5 0.5 0.2 0.4', box: null },
    { line: '0 0.5 0.5', box: null },
    { line: '-1 0.5 0.5 0.2 0.4', box: null },
  ])('parses "$line"', ({ line, box }) => {
    const r = parseYoloLabelLine(line);
    if (box === null) expect(r).toBeNull();
    else for (const [k, v] of Object.entries(box)) expect(r?.[k as keyof typeof box]).toBeCloseTo(v, 10);
  });

  it('loads the val split (sorted, bounded); an image without a label file is background; says why when there are no labels', async () => {
    const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'map-labels-'));
    for (const split of ['train', 'val']) {
      mkdirSync(path.join(dir, 'images', split, 'sub'), { recursive: true });
      mkdirSync(path.join(dir, 'labels', split, 'sub'), { recursive: true });
    }
    for (const f of ['b.jpg', 'a.png', 'sub/c.jpg']) writeFileSync(path.join(dir, 'images/val', f), 'x');
    writeFileSync(path.join(dir, 'labels/val/a.txt'), '0 0.5 0.5 0.2 0.2\n\n1 0.1 0.1 0.1 0.1\n');
    writeFileSync(path.join(dir, 'labels/val/sub/c.txt'), '1 0.5 0.5 0.5 0.5\nnot a box\n');
    const set = await loadYoloLabelledSet(dir, 10);
    expect('reason' in set).toBe(false);
    if ('reason' in set) return;
    expect(set.split).toBe('val');
    expect(set.images.map((i) => [path.relative(dir, i.file), i.boxes.length])).toEqual([
      ['images/val/a.png', 2],
      ['images/val/b.jpg', 0],
      ['images/val/sub/c.jpg', 1],
    ]);
    expect(set.boxes).toBe(3);
    const two = await loadYoloLabelledSet(dir, 2);
    expect('reason' in two ? 0 : two.images.length).toBe(2);
    expect(await loadYoloLabelledSet(path.join(dir, 'images'), 10)).toEqual({
      reason: expect.stringMatching(/no images\/<split>/),
    });
    const noLabels = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'map-nolabels-'));
    mkdirSync(path.join(noLabels, 'images', 'val'), { recursive: true });
    expect(await loadYoloLabelledSet(noLabels, 10)).toEqual({ reason: expect.stringMatching(/no labels\/val/) });
  });
});

describe('withMapChange', () => {
  const base = { split: 'val', images: 4, boxes: 6, map50: 0.8, map50_95: 0.5 };
  const a = (): Agreement =>
    compareOutputs(
      [[{ data: Float32Array.from([1, 2]), dims: [2] }]],
      [[{ data: Float32Array.from([1, 2.5]), dims: [2] }]],
      'detect',
    );

  it('records both mAP values, their difference, and makes a loss the accuracy drop', () => {
    const r = withMapChange(a(), base, { ...base, map50: 0.65, map50_95: 0.4 });
    expect(r.mapChange).toBeCloseTo(-0.15, 10);
    expect(r.accuracyDrop).toBeCloseTo(0.15, 10);
    expect(r).toMatchObject({
      accuracyBasis: 'map50',
      mapSkipReason: null,
      map: { baselineMap50: 0.8, map50: 0.65, baselineMap50_95: 0.5, map50_95: 0.4, images: 4, boxes: 6, split: 'val' },
    });
    // The output-based numbers stay for reference.
    expect(r.cosine).toBe(a().cosine);
  });

  it('carries the bootstrap interval of the change as the bound, and the drop it allows', () => {
    const r = withMapChange(a(), base, {
      ...base,
      map50: 0.79,
      changeBound: { lower: -0.03, upper: 0.012, confidence: 0.95, resamples: 1000 },
    });
    expect(r.bound).toMatchObject({
      method: 'paired-bootstrap',
      of: 'mapChange',
      lower: -0.03,
      upper: 0.012,
      dropUpper: 0.03,
      resamples: 1000,
      note: expect.stringMatching(/sign of the change is not settled/),
    });
    expect(withMapChange(a(), base, { ...base, map50: 0.79 }).bound).toBeNull();
  });

  it('a gain is no drop', () => {
    const r = withMapChange(a(), base, { ...base, map50: 0.9 });
    expect(r.mapChange).toBeCloseTo(0.1, 10);
    expect(r.accuracyDrop).toBe(0);
  });

  it('without ground truth keeps the output-based drop and says why', () => {
    const before = a();
    const r = withMapChange(
      before,
      { ...base, map50: null, map50_95: null, boxes: 0 },
      { ...base, map50: null, map50_95: null, boxes: 0 },
    );
    expect(r).toMatchObject({
      mapChange: null,
      map: null,
      accuracyDrop: before.accuracyDrop,
      accuracyBasis: 'cosine',
      mapSkipReason: expect.stringMatching(/no ground-truth boxes/),
    });
  });
});

describe('per-image matches and the paired bootstrap of the mAP change', () => {
  /** A seeded scene: a few objects of 3 classes, detections that find most of them with jittered boxes, some false positives. */
  const scene = (seed: number, miss: number): ImageDetections => {
    const r = seededRandom(seed);
    const gts: GtBox[] = [];
    const preds: Det[] = [];
    for (let k = 0; k < 1 + Math.floor(r() * 4); k++) {
      const x = r() * 200;
      const y = r() * 200;
      const cls = Math.floor(r() * 3);
      gts.push(gt(x, y, x + 20, y + 20, cls));
      if (r() > miss) preds.push(det(x + r() * 4, y + r() * 4, x + 20 + r() * 4, y + 20, 0.3 + r() * 0.7, cls));
    }
    for (let k = 0; k < Math.floor(r() * 3); k++) {
      const x = r() * 200;
      preds.push(det(x, x, x + 10, x + 10, r() * 0.6, Math.floor(r() * 3)));
    }
    return { gts, preds };
  };

  it('AP@0.5 from matches equals meanAveragePrecision on the same images, and weights count an image that many times', () => {
    const images = Array.from({ length: 24 }, (_, i) => scene(i + 1, 0.2));
    const matches = images.map((im) => matchImage(im.preds, im.gts));
    expect(map50FromMatches(matches)).toBeCloseTo(meanAveragePrecision(images, [0.5]).map50!, 10);
    const weights = images.map((_, i) => (i % 3 === 0 ? 2 : i % 3 === 1 ? 0 : 1));
    const expanded = images.flatMap((im, i) => Array.from({ length: weights[i] }, () => im));
    expect(map50FromMatches(matches, weights)).toBeCloseTo(meanAveragePrecision(expanded, [0.5]).map50!, 10);
    expect(map50FromMatches([matchImage([det(0, 0, 1, 1, 0.5)], [])])).toBeNull();
  });

  it('identical models give a zero interval; a model that misses more gets an interval below zero; seeded, so repeatable', () => {
    const base = Array.from({ length: 32 }, (_, i) => scene(i + 1, 0.1));
    const baseM = base.map((im) => matchImage(im.preds, im.gts));
    expect(pairedBootstrapMapChange(baseM, baseM, { resamples: 200 })).toMatchObject({ lower: 0, upper: 0 });
    // Same scenes, but half of each image's true detections dropped.
    const worse = base.map((im) => ({ gts: im.gts, preds: im.preds.filter((_, k) => k % 2 === 1) }));
    const worseM = worse.map((im) => matchImage(im.preds, im.gts));
    const b = pairedBootstrapMapChange(baseM, worseM, { resamples: 300, seed: 3 })!;
    const change = map50FromMatches(worseM)! - map50FromMatches(baseM)!;
    expect(change).toBeLessThan(0);
    expect(b.lower).toBeLessThan(change);
    expect(b.upper).toBeGreaterThan(change);
    expect(b.upper).toBeLessThan(0);
    expect(b).toMatchObject({ confidence: 0.95, resamples: 300 });
    expect(pairedBootstrapMapChange(baseM, worseM, { resamples: 300, seed: 3 })).toEqual(b);
    expect(pairedBootstrapMapChange(baseM, worseM.slice(1))).toBeNull();
  });
});
