import { type TuneTrial, tuneTrialSchema } from '@cvp/contracts';
import type { JobEventView, JobView } from '../../jobs/jobs.dto';
import type { ScatterPoint, Series } from '../views/charts';

/** Training curves from a job's epoch events: one chart of losses, one of validation metrics. */
export function trainingCurves(events: JobEventView[]): { losses: Series[]; metrics: Series[] } {
  const losses = new Map<string, Series>();
  const metrics = new Map<string, Series>();
  const add = (into: Map<string, Series>, name: string, x: number, y: unknown) => {
    if (typeof y !== 'number' || !Number.isFinite(y)) return;
    let s = into.get(name);
    if (!s) into.set(name, (s = { name, points: [] }));
    const at = s.points.findIndex((p) => p.x === x);
    if (at >= 0)
      s.points[at] = { x, y }; // a redelivered epoch replaces, never duplicates
    else s.points.push({ x, y });
  };
  for (const e of events) {
    if (e.stage !== 'epoch' || !e.detail) continue;
    const epoch = Number(e.detail.epoch);
    if (!Number.isFinite(epoch)) continue;
    for (const [k, v] of Object.entries((e.detail.losses as Record<string, unknown>) ?? {})) add(losses, k, epoch, v);
    for (const [k, v] of Object.entries((e.detail.metrics as Record<string, unknown>) ?? {})) add(metrics, k, epoch, v);
  }
  const sorted = (m: Map<string, Series>) =>
    [...m.values()].map((s) => ({ ...s, points: [...s.points].sort((a, b) => a.x - b.x) }));
  return { losses: sorted(losses), metrics: sorted(metrics) };
}

/** Tuning trials: the result's list when the job is done, else the trial events so far. */
export function tuningTrials(job: JobView, events: JobEventView[]): TuneTrial[] {
  const fromResult = job.result?.trials;
  if (Array.isArray(fromResult))
    return fromResult.map((t) => tuneTrialSchema.safeParse(t)).flatMap((r) => (r.success ? [r.data] : []));
  const byNumber = new Map<number, TuneTrial>();
  for (const e of events) {
    if (e.stage !== 'trial' || !e.detail) continue;
    const r = tuneTrialSchema.safeParse(e.detail);
    if (r.success) byNumber.set(r.data.number, r.data);
  }
  return [...byNumber.values()].sort((a, b) => a.number - b.number);
}

/**
 * Trials with both objectives as points (latency on x, accuracy on y); the front is the job's
 * Pareto front when it reported one, else the trials no other trial beats on both objectives.
 */
export function paretoPoints(job: JobView, trials: TuneTrial[]): ScatterPoint[] {
  const measured = trials.filter(
    (t): t is TuneTrial & { accuracy: number; latency_ms: number } =>
      typeof t.accuracy === 'number' && typeof t.latency_ms === 'number',
  );
  const reported = Array.isArray(job.result?.paretoFront)
    ? new Set((job.result!.paretoFront as { number: number }[]).map((p) => p.number))
    : null;
  const dominated = (t: { accuracy: number; latency_ms: number }) =>
    measured.some(
      (o) =>
        o.accuracy >= t.accuracy &&
        o.latency_ms <= t.latency_ms &&
        (o.accuracy > t.accuracy || o.latency_ms < t.latency_ms),
    );
  return measured.map((t) => ({
    x: t.latency_ms,
    y: t.accuracy,
    label: `trial ${t.number}: accuracy ${t.accuracy.toFixed(3)}, latency ${t.latency_ms.toFixed(1)} ms`,
    front: reported ? reported.has(t.number) : !dominated(t),
  }));
}
