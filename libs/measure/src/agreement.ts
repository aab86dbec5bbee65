import { promises as fs } from 'node:fs';
import type { Agreement } from '@cvp/contracts';
import type { DetectionMap } from './detection-map';
import { round } from './stats';

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

/** Outputs file: a JSON header line with dims, then the float32 data of every output in order. */
export async function writeOutputs(file: string, outs: OutputTensor[][]): Promise<void> {
  const header = JSON.stringify(outs.map((s) => s.map((o) => o.dims)));
  const bufs = outs.flatMap((s) => s.map((o) => Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength)));
  await fs.writeFile(`${file}.tmp`, Buffer.concat([Buffer.from(`${header}\n`), ...bufs]));
  await fs.rename(`${file}.tmp`, file);
}

export async function readOutputs(file: string): Promise<OutputTensor[][]> {
  const buf = await fs.readFile(file);
  const nl = buf.indexOf(10);
  const dims = JSON.parse(buf.subarray(0, nl).toString()) as number[][][];
  let off = nl + 1;
  return dims.map((s) =>
    s.map((d) => {
      const n = d.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      Buffer.from(data.buffer).set(buf.subarray(off, off + n * 4));
      off += n * 4;
      return { data, dims: d };
    }),
  );
}

/**
 * Agreement of an engine's outputs with the baseline's (step 1) on the same seeded inputs:
 * max/mean abs diff, lowest cosine, top-1 agreement (classifiers), largest confidence change
 * (detectors). accuracyDrop is what the maxAccuracyDrop constraint judges.
 */
export function compareOutputs(
  ref: OutputTensor[][],
  other: OutputTensor[][],
  task: 'detect' | 'classify' | null,
): Agreement {
  let maxAbs = 0;
  let sumAbs = 0;
  let count = 0;
  let minCos = 1;
  let top1Same = 0;
  let top1Total = 0;
  let scoreMax: number | null = null;
  const samples = Math.min(ref.length, other.length);
  for (let s = 0; s < samples; s++) {
    for (let o = 0; o < Math.min(ref[s].length, other[s].length); o++) {
      const r = ref[s][o];
      const v = other[s][o];
      if (r.data.length !== v.data.length)
        throw new Error(`output ${o} sizes differ: ${r.data.length} vs ${v.data.length}`);
      let dot = 0;
      let nr = 0;
      let nv = 0;
      for (let i = 0; i < r.data.length; i++) {
        const d = Math.abs(r.data[i] - v.data[i]);
        if (d > maxAbs) maxAbs = d;
        sumAbs += d;
        dot += r.data[i] * v.data[i];
        nr += r.data[i] * r.data[i];
        nv += v.data[i] * v.data[i];
      }
      count += r.data.length;
      const cos = nr > 0 && nv > 0 ? dot / Math.sqrt(nr * nv) : nr === nv ? 1 : 0;
      minCos = Math.min(minCos, cos);
      if (task === 'classify' && r.dims.length === 2) {
        const [b, k] = r.dims;
        for (let row = 0; row < b; row++) {
          top1Total++;
          if (argmax(r.data, row * k, k) === argmax(v.data, row * k, k)) top1Same++;
        }
      }
      if (task === 'detect' && r.dims.length === 3 && o === 0) {
        const from = 4 * r.dims[2] * 1;
        const per = r.dims[1] * r.dims[2];
        for (let b = 0; b < r.dims[0]; b++) {
          for (let i = b * per + from; i < (b + 1) * per; i++)
            scoreMax = Math.max(scoreMax ?? 0, Math.abs(r.data[i] - v.data[i]));
        }
      }
    }
  }
  const top1 = top1Total ? top1Same / top1Total : null;
  const cosine = Math.min(1, minCos);
  return {
    maxAbsDiff: round(maxAbs, 6),
    meanAbsDiff: round(count ? sumAbs / count : 0, 8),
    cosine: round(cosine, 6),
    top1Agreement: top1,
    scoreMaxAbsDiff: scoreMax === null ? null : round(scoreMax, 6),
    mapChange: null,
    accuracyDrop: round(top1 !== null ? 1 - top1 : Math.max(0, 1 - cosine), 6),
    samples,
    accuracyBasis: top1 !== null ? 'top1' : 'cosine',
  };
}

/**
 * Adds the mAP change against the baseline (both scored on the same labelled images) and makes
 * it the accuracy drop: for a detector with labels, losing mAP is what "less accurate" means,
 * while output cosine only says the numbers moved. A gain counts as no drop. Without ground truth
 * on either side the agreement keeps its output-based drop and says why.
 */
export function withMapChange(a: Agreement, baseline: DetectionMap, candidate: DetectionMap): Agreement {
  if (
    baseline.map50 === null ||
    candidate.map50 === null ||
    baseline.map50_95 === null ||
    candidate.map50_95 === null
  ) {
    return {
      ...a,
      mapChange: null,
      map: null,
      mapSkipReason: `no ground-truth boxes in the ${baseline.images} evaluated image(s) of split ${baseline.split}`,
    };
  }
  const change = round(candidate.map50 - baseline.map50, 6);
  return {
    ...a,
    mapChange: change,
    map: {
      split: candidate.split,
      images: candidate.images,
      boxes: candidate.boxes,
      baselineMap50: baseline.map50,
      map50: candidate.map50,
      baselineMap50_95: baseline.map50_95,
      map50_95: candidate.map50_95,
    },
    mapSkipReason: null,
    accuracyDrop: round(Math.max(0, -change), 6),
    accuracyBasis: 'map50',
  };
}

function argmax(a: Float32Array, from: number, len: number): number {
  let best = from;
  for (let i = from + 1; i < from + len; i++) if (a[i] > a[best]) best = i;
  return best - from;
}
