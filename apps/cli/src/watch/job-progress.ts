import type { Job, JobEvent, JobState } from '@cvp/sdk';
import { duration, percent, shortId } from '../output/format';

/** What a progress display shows of a job, folded from its events. */
export interface ProgressState {
  jobId: string;
  type: string;
  state: JobState;
  /** 0..1 */
  progress: number;
  stage: string | null;
  epoch: { n: number; of: number } | null;
  trial: { n: number; of: number } | null;
  /** Best trial value so far (tuning: accuracy, higher is better). */
  best: { value: number; trial: number | null } | null;
  /** Seconds left: the worker's own estimate when it gives one, else from the progress rate. */
  etaS: number | null;
  error: string | null;
  result: Record<string, unknown> | null;
  startedAt: number | null;
  lastSeq: number;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function initialProgress(job: Job): ProgressState {
  return {
    jobId: job.id,
    type: job.type,
    state: job.state,
    progress: job.progress ?? 0,
    stage: job.stage ?? null,
    epoch: null,
    trial: null,
    best: null,
    etaS: null,
    error: job.error ?? null,
    result: (job.result as Record<string, unknown> | null) ?? null,
    startedAt: job.startedAt ? Date.parse(job.startedAt) : null,
    lastSeq: 0,
  };
}

/** Folds one event in (pure). */
export function applyEvent(s: ProgressState, e: JobEvent, now = Date.now()): ProgressState {
  const next: ProgressState = { ...s, lastSeq: Math.max(s.lastSeq, e.seq) };
  if (e.state) next.state = e.state;
  if (e.state === 'running' && next.startedAt === null) next.startedAt = Date.parse(e.at) || now;
  if (e.progress !== undefined) next.progress = e.progress;
  if (e.stage !== undefined) next.stage = e.stage;
  if (e.error !== undefined) next.error = e.error;
  if (e.result !== undefined) next.result = e.result;
  const d = e.detail ?? {};
  const epoch = num(d.epoch);
  const epochs = num(d.epochs);
  if (epoch !== null && epochs !== null) next.epoch = { n: epoch, of: epochs };
  const trials = num(d.trials);
  const finished = num(d.finished);
  if (trials !== null) next.trial = { n: finished ?? s.trial?.n ?? 0, of: trials };
  // A finished tuning trial carries its accuracy; keep the best one seen.
  if (e.stage === 'trial' && d.status === 'complete') {
    const acc = num(d.accuracy);
    if (acc !== null && (!s.best || acc > s.best.value)) next.best = { value: acc, trial: num(d.number) };
  }
  const workerEta = num(d.etaS) ?? num(d.eta_s);
  next.etaS = workerEta ?? estimateEta(next, now);
  if (e.state && e.state !== 'running' && e.state !== 'queued') next.etaS = null;
  return next;
}

/** Remaining time from the rate so far; none until a few percent are done. */
export function estimateEta(s: ProgressState, now = Date.now()): number | null {
  if (s.startedAt === null || s.progress < 0.03 || s.progress >= 1) return null;
  const elapsed = (now - s.startedAt) / 1000;
  return elapsed > 0 ? (elapsed * (1 - s.progress)) / s.progress : null;
}

/** "epoch 3/10 · trial 4/20 · best 0.712 (trial 2)" */
export function progressDetail(s: ProgressState): string {
  const parts: string[] = [];
  if (s.epoch) parts.push(`epoch ${s.epoch.n}/${s.epoch.of}`);
  if (s.trial) parts.push(`trial ${s.trial.n}/${s.trial.of}`);
  if (s.best) parts.push(`best ${s.best.value.toFixed(3)}${s.best.trial !== null ? ` (trial ${s.best.trial})` : ''}`);
  return parts.join(' · ');
}

/** One plain line for logs and non-terminals. */
export function progressLine(s: ProgressState): string {
  const detail = progressDetail(s);
  return [
    `[${s.type} ${shortId(s.jobId)}]`,
    s.state,
    percent(s.progress),
    s.stage ?? '',
    detail,
    s.etaS !== null ? `ETA ${duration(s.etaS * 1000)}` : '',
  ]
    .filter(Boolean)
    .join('  ');
}
