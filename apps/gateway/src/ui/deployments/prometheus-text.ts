/** One sample of the Prometheus text exposition format: `name{label="value",...} 1.5`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// The npm parsers of this format that were tried drop the labels of histogram series (which is
// where the per-model latencies live), so the few lines the data plane writes are read here.
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;

const unescape = (v: string) => v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

/** Samples of the lines whose metric name passes `keep` (comments and malformed lines are skipped). */
export function parsePrometheusText(text: string, keep: (name: string) => boolean = () => true): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m || !keep(m[1])) continue;
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    LABEL.lastIndex = 0;
    let ok = true;
    while (LABEL.lastIndex < body.length) {
      const l = LABEL.exec(body);
      if (!l) {
        ok = false;
        break;
      }
      labels[l[1]] = unescape(l[2]);
    }
    const value = parseValue(m[4]);
    if (ok && !Number.isNaN(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

/** A cumulative histogram: upper bounds (ascending, +Inf last) and counts at or below each. */
export interface Histogram {
  bounds: number[];
  counts: number[];
}

/** Sums the `_bucket` series of one metric whose labels pass `match` (e.g. every endpoint and code of one model). */
export function histogramOf(
  samples: Sample[],
  metric: string,
  match: (l: Record<string, string>) => boolean,
): Histogram {
  const byBound = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${metric}_bucket` || !match(s.labels)) continue;
    const le = parseValue(s.labels.le ?? '');
    if (Number.isNaN(le)) continue;
    byBound.set(le, (byBound.get(le) ?? 0) + s.value);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { bounds, counts: bounds.map((b) => byBound.get(b)!) };
}

/** `later - earlier`, bucket by bucket (what happened between two scrapes). */
export function histogramDelta(later: Histogram, earlier: Histogram | undefined): Histogram {
  if (!earlier) return later;
  return {
    bounds: later.bounds,
    counts: later.counts.map((c, i) => {
      const j = earlier.bounds.indexOf(later.bounds[i]);
      return Math.max(0, c - (j >= 0 ? earlier.counts[j] : 0));
    }),
  };
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly inside the bucket that holds it
 * (what Prometheus' histogram_quantile does); null without observations. A quantile in the +Inf
 * bucket is reported as the largest finite bound.
 */
export function histogramQuantile(q: number, h: Histogram): number | null {
  const total = h.counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.counts[i] < rank) continue;
    const upper = h.bounds[i];
    const lower = i === 0 ? 0 : h.bounds[i - 1];
    if (!Number.isFinite(upper)) return lower;
    const below = i === 0 ? 0 : h.counts[i - 1];
    const inBucket = h.counts[i] - below;
    return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
  }
  return h.bounds.filter(Number.isFinite).at(-1) ?? null;
}

export function sumOf(samples: Sample[], name: string, match: (l: Record<string, string>) => boolean): number {
  let t = 0;
  for (const s of samples) if (s.name === name && match(s.labels)) t += s.value;
  return t;
}
