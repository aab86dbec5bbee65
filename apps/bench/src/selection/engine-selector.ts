import type {
  AccuracyNotAssessablePolicy,
  Agreement,
  BenchCandidate,
  BenchConstraints,
  ConstraintCheck,
  ConstraintName,
  DecisionCandidate,
  DecisionRecord,
} from '@cvp/contracts';

/**
 * Defaults applied where the job sets no limit: an accuracy drop of 1 % at most, and the
 * platform's VRAM budget for one model (6.5 GiB).
 */
export const DEFAULT_MAX_ACCURACY_DROP = 0.01;
export const DEFAULT_MAX_VRAM_MB = 6.5 * 1024;
/** Noise margin floor as a share of the fastest p95, where the measured spread is smaller. */
export const MIN_MARGIN_FRACTION = 0.02;
export const TIE_BREAK = ['accuracyDrop', 'peakRssMb', 'peakVramMb', 'engine', 'candidateId'] as const;
/**
 * Memory noise: peak RSS/VRAM of the same configuration moves by a few MB from run to run, so
 * in the tie-break memory within this margin of the smallest counts as equal (then the engine
 * name decides). Without it, two runs of the same model could pick different graph levels of
 * one engine on a 1 MB wobble.
 */
export const MEMORY_MARGIN_MB = 8;
export const MEMORY_MARGIN_FRACTION = 0.05;
export const memoryMarginMb = (smallest: number) => Math.max(MEMORY_MARGIN_MB, MEMORY_MARGIN_FRACTION * smallest);

/** What selection reads of a measured candidate (a subset of BenchCandidate). */
export type SelectableCandidate = Pick<
  BenchCandidate,
  'id' | 'engine' | 'options' | 'modelPath' | 'throughput' | 'peakRssMb' | 'peakVramMb'
> & {
  /** Why peakVramMb is null (a GPU candidate whose memory NVML could not attribute). */
  vramReason?: string | null;
  latency: Pick<BenchCandidate['latency'], 'p95Ms' | 'stdMs' | 'unstable'>;
  agreement: SelectableAgreement | null;
};

type SelectableAgreement = Pick<Agreement, 'accuracyDrop' | 'assessable' | 'notAssessableReason'>;

export interface SelectOptions {
  /** The baseline (step 1) is the reference for agreement: its accuracy drop is 0 by definition. */
  baselineId?: string;
  /**
   * Candidates whose accuracy cannot be assessed (only synthetic inputs, an untrained model):
   * `refuse` fails them on maxAccuracyDrop, `accept` passes them with the reason in the check.
   * Default refuse: an accuracy guard that cannot look must not wave everything through.
   */
  whenAccuracyNotAssessable?: AccuracyNotAssessablePolicy;
}

const isNotAssessable = (a: SelectableAgreement | null) => !!a && (a.assessable === false || a.accuracyDrop === null);

/** Whether an agreement passes maxAccuracyDrop under the policy (not the baseline: it always passes). */
export function accuracyCheckPasses(
  a: SelectableAgreement | null,
  maxDrop: number,
  policy: AccuracyNotAssessablePolicy = 'refuse',
): boolean {
  if (!a) return false;
  if (isNotAssessable(a)) return policy === 'accept';
  return a.accuracyDrop! <= maxDrop;
}

const fmt = (x: number) => (Math.round(x * 1000) / 1000).toString();

function accuracyDrop(c: SelectableCandidate, baselineId?: string): number | null {
  if (c.id === baselineId) return 0;
  return c.agreement ? c.agreement.accuracyDrop : null;
}

function checksFor(
  c: SelectableCandidate,
  limits: Record<ConstraintName, number | null>,
  opts: SelectOptions,
): ConstraintCheck[] {
  const baselineId = opts.baselineId;
  const upper = (
    constraint: ConstraintName,
    value: number | null,
    unit: string,
    unmeasured: string,
  ): ConstraintCheck => {
    const limit = limits[constraint];
    if (limit === null) return { constraint, limit, value, passed: true, why: 'no limit set' };
    if (value === null)
      return { constraint, limit, value, passed: false, why: `${unmeasured}; cannot prove <= ${fmt(limit)} ${unit}` };
    const passed = value <= limit;
    return {
      constraint,
      limit,
      value,
      passed,
      why: `${fmt(value)} ${unit} ${passed ? '<=' : '>'} ${fmt(limit)} ${unit}`,
    };
  };
  const gpu = c.options.provider !== 'cpu';
  const vram: ConstraintCheck =
    !gpu && c.peakVramMb === null
      ? {
          constraint: 'maxVramMb',
          limit: limits.maxVramMb,
          value: 0,
          passed: true,
          why: 'CPU engine: uses no GPU memory',
        }
      : upper('maxVramMb', c.peakVramMb, 'MB', `VRAM not attributable${c.vramReason ? ` (${c.vramReason})` : ''}`);
  const minTp = limits.minThroughput;
  const tp: ConstraintCheck =
    minTp === null
      ? { constraint: 'minThroughput', limit: null, value: c.throughput, passed: true, why: 'no limit set' }
      : {
          constraint: 'minThroughput',
          limit: minTp,
          value: c.throughput,
          passed: c.throughput >= minTp,
          why: `${fmt(c.throughput)} img/s ${c.throughput >= minTp ? '>=' : '<'} ${fmt(minTp)} img/s`,
        };
  const policy = opts.whenAccuracyNotAssessable ?? 'refuse';
  const accuracy: ConstraintCheck =
    c.id !== baselineId && isNotAssessable(c.agreement)
      ? {
          constraint: 'maxAccuracyDrop',
          limit: limits.maxAccuracyDrop,
          value: null,
          passed: policy === 'accept',
          assessable: false,
          why: `not assessable: ${c.agreement!.notAssessableReason ?? 'no accuracy figure'}; ${policy === 'accept' ? 'accepted with a caveat (whenAccuracyNotAssessable: accept)' : 'refused (whenAccuracyNotAssessable: refuse)'}`,
        }
      : upper('maxAccuracyDrop', accuracyDrop(c, baselineId), '', 'accuracy agreement not measured');
  return [
    upper('maxP95Ms', c.latency.p95Ms, 'ms', 'latency not measured'),
    upper('maxRssMb', c.peakRssMb, 'MB', 'peak RSS not measured'),
    vram,
    accuracy,
    tp,
  ];
}

/** Spread-derived margin: differences smaller than the fastest candidate's std (or 2 % of its p95) are noise. */
export function noiseMarginMs(fastest: SelectableCandidate): number {
  return Math.round(Math.max(fastest.latency.stdMs, MIN_MARGIN_FRACTION * fastest.latency.p95Ms) * 1000) / 1000;
}

/**
 * Orders the candidates inside the noise margin: repeatedly takes the best of the rest by
 * accuracy drop, then memory (peak RSS, then VRAM, each within the memory margin of the smallest
 * counting as equal), then engine name, then id. Filtering against the smallest keeps the order
 * total and the same for any input order, which a pairwise "close enough" comparison would not.
 */
function tieBreakOrder<T extends { c: SelectableCandidate }>(items: T[], baselineId?: string): T[] {
  const out: T[] = [];
  let rest = [...items];
  const near = (pick: (c: SelectableCandidate) => number, set: T[]) => {
    const least = Math.min(...set.map((e) => pick(e.c)));
    return set.filter((e) => pick(e.c) <= least + (Number.isFinite(least) ? memoryMarginMb(least) : 0));
  };
  while (rest.length) {
    const drop = (c: SelectableCandidate) => accuracyDrop(c, baselineId) ?? Infinity;
    const leastDrop = Math.min(...rest.map((e) => drop(e.c)));
    let pool = rest.filter((e) => drop(e.c) === leastDrop);
    pool = near((c) => c.peakRssMb ?? Infinity, pool);
    pool = near((c) => c.peakVramMb ?? 0, pool);
    const best = pool.sort((a, b) => cmp(a.c.engine, b.c.engine) || cmp(a.c.id, b.c.id))[0];
    out.push(best);
    rest = rest.filter((e) => e !== best);
  }
  return out;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Sum of how far each failed limit was overshot, relative to the limit: ranks "closest" candidates. */
function overshoot(checks: ConstraintCheck[]): number {
  return checks
    .filter((k) => !k.passed)
    .reduce((s, k) => {
      if (k.value === null || k.limit === null || k.limit === 0) return s + 1;
      return s + Math.abs(k.value - k.limit) / Math.abs(k.limit);
    }, 0);
}

/**
 * Picks an engine: a pure function of measurements and constraints. Feasible candidates are
 * ranked by p95; those within the noise margin of the fastest tie-break by accuracy drop, then
 * memory, then engine name (then id, so the order is total). Same input, same record.
 */
export function selectEngine(
  candidates: readonly SelectableCandidate[],
  constraints: BenchConstraints,
  opts: SelectOptions = {},
): DecisionRecord {
  const limits: Record<ConstraintName, number | null> = {
    maxP95Ms: constraints.maxP95Ms ?? null,
    maxRssMb: constraints.maxRssMb ?? null,
    maxVramMb: constraints.maxVramMb ?? DEFAULT_MAX_VRAM_MB,
    maxAccuracyDrop: constraints.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP,
    minThroughput: constraints.minThroughput ?? null,
  };
  const effective: Record<string, number> = {};
  for (const [k, v] of Object.entries(limits)) if (v !== null) effective[k] = v;
  const base = {
    objective: 'p95Ms' as const,
    constraints,
    effectiveConstraints: effective,
    tieBreak: [...TIE_BREAK],
    accuracyPolicy: { whenNotAssessable: opts.whenAccuracyNotAssessable ?? ('refuse' as const) },
  };
  const sorted = [...candidates].sort((a, b) => cmp(a.id, b.id));
  if (sorted.length === 0) {
    return {
      ...base,
      status: 'no-candidates',
      noiseMarginMs: 0,
      chosenId: null,
      chosen: null,
      closest: null,
      candidates: [],
      summary: 'no engine could be measured, so none was selected',
    };
  }
  const evaluated = sorted.map((c) => ({ c, checks: checksFor(c, limits, opts) }));
  const feasible = evaluated.filter((e) => e.checks.every((k) => k.passed));

  if (feasible.length === 0) {
    const closest = [...evaluated].sort(
      (a, b) =>
        a.checks.filter((k) => !k.passed).length - b.checks.filter((k) => !k.passed).length ||
        overshoot(a.checks) - overshoot(b.checks) ||
        a.c.latency.p95Ms - b.c.latency.p95Ms ||
        cmp(a.c.id, b.c.id),
    )[0];
    const failed = closest.checks.filter((k) => !k.passed);
    return {
      ...base,
      status: 'infeasible',
      noiseMarginMs: 0,
      chosenId: null,
      chosen: null,
      closest: { candidateId: closest.c.id, failed: failed.map((k) => k.constraint) },
      candidates: evaluated.map(({ c, checks }) => ({
        candidateId: c.id,
        feasible: false,
        rank: null,
        objectiveMs: c.latency.p95Ms,
        withinMargin: false,
        checks,
        why: `infeasible: fails ${checks
          .filter((k) => !k.passed)
          .map((k) => `${k.constraint} (${k.why})`)
          .join(', ')}`,
      })),
      summary: `no engine satisfies the constraints; the closest is ${closest.c.id}, which fails ${failed.map((k) => `${k.constraint} (${k.why})`).join(' and ')}`,
    };
  }

  const byObjective = [...feasible].sort((a, b) => a.c.latency.p95Ms - b.c.latency.p95Ms || cmp(a.c.id, b.c.id));
  const fastest = byObjective[0].c;
  const margin = noiseMarginMs(fastest);
  const bound = fastest.latency.p95Ms + margin;
  const inMargin = tieBreakOrder(
    byObjective.filter((e) => e.c.latency.p95Ms <= bound),
    opts.baselineId,
  );
  const outside = byObjective.filter((e) => e.c.latency.p95Ms > bound);
  const ranked = [...inMargin, ...outside];
  const chosen = ranked[0].c;
  const rankOf = new Map(ranked.map((e, i) => [e.c.id, i + 1]));
  const why = (c: SelectableCandidate, checks: ConstraintCheck[]): string => {
    if (!checks.every((k) => k.passed))
      return `infeasible: fails ${checks
        .filter((k) => !k.passed)
        .map((k) => `${k.constraint} (${k.why})`)
        .join(', ')}`;
    const p = c.latency.p95Ms;
    if (c.id === chosen.id) {
      return inMargin.length > 1
        ? `chosen: p95 ${fmt(p)} ms is within the ${fmt(margin)} ms noise margin of the fastest feasible (${fmt(fastest.latency.p95Ms)} ms) and wins the tie-break (accuracy drop, memory, engine name) over ${inMargin.length - 1} other(s)`
        : `chosen: fastest feasible candidate (p95 ${fmt(p)} ms), more than the ${fmt(margin)} ms noise margin ahead of the next`;
    }
    if (p <= bound) {
      const dropC = accuracyDrop(chosen, opts.baselineId) ?? 0;
      const dropX = accuracyDrop(c, opts.baselineId) ?? Infinity;
      const rssC = chosen.peakRssMb ?? Infinity;
      const rssX = c.peakRssMb ?? Infinity;
      const reason =
        dropX !== dropC
          ? `accuracy drop ${fmt(dropX)} vs ${fmt(dropC)}`
          : rssX > rssC + (Number.isFinite(rssC) ? memoryMarginMb(rssC) : 0)
            ? `peak RSS ${c.peakRssMb ?? '?'} MB vs ${chosen.peakRssMb ?? '?'} MB`
            : (c.peakVramMb ?? 0) > (chosen.peakVramMb ?? 0) + memoryMarginMb(chosen.peakVramMb ?? 0)
              ? `peak VRAM ${c.peakVramMb} MB vs ${chosen.peakVramMb ?? 0} MB`
              : `name order (${c.engine}, ${c.id}), memory within the ${fmt(Number.isFinite(Math.min(rssC, rssX)) ? memoryMarginMb(Math.min(rssC, rssX)) : MEMORY_MARGIN_MB)} MB memory margin`;
      return `feasible and within the noise margin (p95 ${fmt(p)} ms), lost the tie-break on ${reason}`;
    }
    return `feasible, p95 ${fmt(p)} ms is ${fmt(p - fastest.latency.p95Ms)} ms slower than the fastest, outside the ${fmt(margin)} ms noise margin`;
  };
  const decided: DecisionCandidate[] = evaluated.map(({ c, checks }) => ({
    candidateId: c.id,
    feasible: checks.every((k) => k.passed),
    rank: rankOf.get(c.id) ?? null,
    objectiveMs: c.latency.p95Ms,
    withinMargin: checks.every((k) => k.passed) && c.latency.p95Ms <= bound,
    checks,
    why: why(c, checks),
  }));
  return {
    ...base,
    status: 'selected',
    noiseMarginMs: margin,
    chosenId: chosen.id,
    chosen: { engine: chosen.engine, options: chosen.options, modelPath: chosen.modelPath },
    closest: null,
    candidates: decided,
    summary: `selected ${chosen.id}: p95 ${fmt(chosen.latency.p95Ms)} ms, ${feasible.length} of ${sorted.length} candidates feasible${chosen.latency.unstable ? ' (its measurement was unstable: CV stayed above the threshold)' : ''}${chosen.id !== opts.baselineId && isNotAssessable(chosen.agreement) ? '; its accuracy could not be assessed and was accepted with a caveat' : ''}`,
  };
}
