import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AccuracyBound, Agreement, AgreementInputs } from '@cvp/contracts';
import type { DetectionMap } from './detection-map';
import { round } from './stats';

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

/** Two-sided 95 % normal quantile. */
const Z95 = 1.959964;
export const AGREEMENT_CONFIDENCE = 0.95;

/**
 * The baseline's outputs, one file per agreement input (`<dir>/<i>.out`: a JSON header line with
 * the dims, then the float32 data of every output in order). One file per input lets a candidate
 * compare input by input and never hold more than one input's outputs of either side, so 32 inputs
 * of a 640 px detector do not inflate the peak RSS it reports.
 */
export async function writeSampleOutputs(dir: string, index: number, outs: OutputTensor[]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${index}.out`);
  const header = JSON.stringify(outs.map((o) => o.dims));
  const bufs = outs.map((o) => Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength));
  await fs.writeFile(`${file}.tmp`, Buffer.concat([Buffer.from(`${header}\n`), ...bufs]));
  await fs.rename(`${file}.tmp`, file);
}

/** One input's outputs written by writeSampleOutputs; null when the baseline has no such input. */
export async function readSampleOutputs(dir: string, index: number): Promise<OutputTensor[] | null> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(path.join(dir, `${index}.out`));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const nl = buf.indexOf(10);
  const dims = JSON.parse(buf.subarray(0, nl).toString()) as number[][];
  let off = nl + 1;
  return dims.map((d) => {
    const n = d.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    Buffer.from(data.buffer).set(buf.subarray(off, off + n * 4));
    off += n * 4;
    return { data, dims: d };
  });
}

/** Wilson score interval of a proportion k/n (better than the normal one near 0 and 1 and for small n). */
export function wilsonInterval(k: number, n: number, z = Z95): { lower: number; upper: number } {
  if (n <= 0) return { lower: 0, upper: 1 };
  const p = k / n;
  const den = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den;
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/**
 * Distribution-free bound on a worst case seen in n independent inputs: with confidence c, the
 * share of inputs like these that would do no worse is at least (1 - c)^(1/n) (e.g. 91 % for 32
 * inputs at 95 %).
 */
export function worstCaseCoverage(n: number, confidence = AGREEMENT_CONFIDENCE): number {
  return n > 0 ? (1 - confidence) ** (1 / n) : 0;
}

/**
 * Agreement of an engine's outputs with the baseline's (step 1) on the same inputs, fed input by
 * input: max/mean abs diff, lowest cosine, top-1 agreement (classifiers), largest confidence change
 * (detectors), and a confidence bound. Whether the figure can say anything about accuracy (real
 * inputs, a trained model) is the caller's call.
 */
export class AgreementAccumulator {
  private maxAbs = 0;
  private sumAbs = 0;
  private count = 0;
  private minCos = 1;
  private top1Same = 0;
  private top1Total = 0;
  private scoreMax: number | null = null;
  private samples = 0;

  constructor(private readonly task: 'detect' | 'classify' | null) {}

  add(ref: OutputTensor[], other: OutputTensor[]): void {
    this.samples++;
    for (let o = 0; o < Math.min(ref.length, other.length); o++) {
      const r = ref[o];
      const v = other[o];
      if (r.data.length !== v.data.length)
        throw new Error(`output ${o} sizes differ: ${r.data.length} vs ${v.data.length}`);
      let dot = 0;
      let nr = 0;
      let nv = 0;
      for (let i = 0; i < r.data.length; i++) {
        const d = Math.abs(r.data[i] - v.data[i]);
        if (d > this.maxAbs) this.maxAbs = d;
        this.sumAbs += d;
        dot += r.data[i] * v.data[i];
        nr += r.data[i] * r.data[i];
        nv += v.data[i] * v.data[i];
      }
      this.count += r.data.length;
      const cos = nr > 0 && nv > 0 ? dot / Math.sqrt(nr * nv) : nr === nv ? 1 : 0;
      this.minCos = Math.min(this.minCos, cos);
      if (this.task === 'classify' && r.dims.length === 2) {
        const [b, k] = r.dims;
        for (let row = 0; row < b; row++) {
          this.top1Total++;
          if (argmax(r.data, row * k, k) === argmax(v.data, row * k, k)) this.top1Same++;
        }
      }
      if (this.task === 'detect' && r.dims.length === 3 && o === 0) {
        const from = 4 * r.dims[2];
        const per = r.dims[1] * r.dims[2];
        for (let b = 0; b < r.dims[0]; b++) {
          for (let i = b * per + from; i < (b + 1) * per; i++)
            this.scoreMax = Math.max(this.scoreMax ?? 0, Math.abs(r.data[i] - v.data[i]));
        }
      }
    }
  }

  result(inputs?: AgreementInputs): Agreement {
    const top1 = this.top1Total ? this.top1Same / this.top1Total : null;
    const cosine = round(Math.min(1, this.minCos), 6);
    let bound: AccuracyBound | null = null;
    if (top1 !== null) {
      const w = wilsonInterval(this.top1Same, this.top1Total);
      bound = {
        confidence: AGREEMENT_CONFIDENCE,
        method: 'wilson',
        of: 'top1Agreement',
        lower: round(w.lower, 4),
        upper: round(w.upper, 4),
        dropUpper: round(1 - w.lower, 4),
        note: `top-1 agrees on ${this.top1Same} of ${this.top1Total} inputs; 95 % interval of the agreement rate ${pct(w.lower)}-${pct(w.upper)}, so the drop may be up to ${pct(1 - w.lower)}`,
      };
    } else if (this.samples > 0) {
      const cover = worstCaseCoverage(this.samples);
      bound = {
        confidence: AGREEMENT_CONFIDENCE,
        method: 'order-statistic',
        of: 'outputCoverage',
        lower: round(cover, 4),
        upper: 1,
        dropUpper: null,
        note: `the lowest cosine over ${this.samples} inputs is ${cosine}; with 95 % confidence at least ${pct(cover)} of inputs like these stay at least that close`,
      };
    }
    return {
      maxAbsDiff: round(this.maxAbs, 6),
      meanAbsDiff: round(this.count ? this.sumAbs / this.count : 0, 8),
      cosine,
      top1Agreement: top1,
      scoreMaxAbsDiff: this.scoreMax === null ? null : round(this.scoreMax, 6),
      mapChange: null,
      accuracyDrop: round(top1 !== null ? 1 - top1 : Math.max(0, 1 - cosine), 6),
      samples: this.samples,
      accuracyBasis: top1 !== null ? 'top1' : 'cosine',
      ...(inputs ? { inputs } : {}),
      bound,
    };
  }
}

const pct = (x: number) => `${(Math.round(x * 1000) / 10).toString()} %`;

/** Agreement over whole sets of outputs (one array of outputs per input), for callers that hold them. */
export function compareOutputs(
  ref: OutputTensor[][],
  other: OutputTensor[][],
  task: 'detect' | 'classify' | null,
  inputs?: AgreementInputs,
): Agreement {
  const acc = new AgreementAccumulator(task);
  for (let s = 0; s < Math.min(ref.length, other.length); s++) acc.add(ref[s], other[s]);
  return acc.result(inputs);
}

/**
 * Adds the mAP change against the baseline (both scored on the same labelled images) and makes
 * it the accuracy drop: for a detector with labels, losing mAP is what "less accurate" means,
 * while output cosine only says the numbers moved. A gain counts as no drop. The bound is the
 * paired bootstrap interval of the change when the candidate's scoring computed one. Without
 * ground truth on either side the agreement keeps its output-based drop and says why.
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
  const b = candidate.changeBound;
  const bound: AccuracyBound | null = b
    ? {
        confidence: b.confidence,
        method: 'paired-bootstrap',
        of: 'mapChange',
        lower: b.lower,
        upper: b.upper,
        dropUpper: round(Math.max(0, -b.lower), 6),
        resamples: b.resamples,
        note: `mAP@0.5 change ${signed(change)} on ${candidate.images} image(s); 95 % paired-bootstrap interval ${signed(b.lower)} to ${signed(b.upper)} (${b.resamples} resamples of the images)${b.lower < 0 && b.upper > 0 ? ': the sign of the change is not settled by these images' : ''}`,
      }
    : null;
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
    bound,
  };
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;

function argmax(a: Float32Array, from: number, len: number): number {
  let best = from;
  for (let i = from + 1; i < from + len; i++) if (a[i] > a[best]) best = i;
  return best - from;
}
