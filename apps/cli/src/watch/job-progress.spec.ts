import type { Job, JobEvent } from '@cvp/sdk';
import { applyEvent, initialProgress, progressLine } from './job-progress';

const job = (over: Partial<Job> = {}): Job =>
  ({
    id: '7f3c1a2b-0000-4000-8000-000000000000',
    type: 'tune',
    state: 'queued',
    progress: 0,
    stage: null,
    result: null,
    error: null,
    attempts: 0,
    ownerId: 'u',
    input: {},
    createdAt: '2025-01-01T00:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    ...over,
  }) as Job;
const ev = (seq: number, e: Partial<JobEvent>): JobEvent => ({
  kind: e.state ? 'state' : 'progress',
  jobId: 'j',
  seq,
  at: '2025-01-01T00:00:00.000Z',
  ...e,
});

describe('job progress folded from events', () => {
  it('tracks epoch n/m and the worker ETA (training)', () => {
    let s = initialProgress(job({ type: 'train' }));
    s = applyEvent(s, ev(1, { state: 'running' }), Date.parse('2025-01-01T00:00:00Z'));
    s = applyEvent(s, ev(2, { stage: 'epoch', progress: 0.27, detail: { epoch: 3, epochs: 10, etaS: 95 } }));
    expect(s).toMatchObject({ state: 'running', epoch: { n: 3, of: 10 }, etaS: 95, progress: 0.27, lastSeq: 2 });
    expect(progressLine(s)).toBe('[train 7f3c1a2b]  running  27%  epoch  epoch 3/10  ETA 1m35s');
  });

  it('tracks trial n/m and the best value so far (tuning), ETA from the rate when the worker gives none', () => {
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    let s = applyEvent(initialProgress(job()), ev(1, { state: 'running' }), t0);
    s = applyEvent(
      s,
      ev(2, {
        stage: 'trial',
        progress: 0.25,
        detail: { number: 0, status: 'complete', accuracy: 0.61, finished: 1, trials: 4 },
      }),
      t0 + 30_000,
    );
    s = applyEvent(
      s,
      ev(3, {
        stage: 'trial',
        progress: 0.5,
        detail: { number: 1, status: 'complete', accuracy: 0.55, finished: 2, trials: 4 },
      }),
      t0 + 60_000,
    );
    s = applyEvent(
      s,
      ev(4, {
        stage: 'trial',
        progress: 0.5,
        detail: { number: 2, status: 'failed', accuracy: 0.9, finished: 2, trials: 4 },
      }),
      t0 + 60_000,
    );
    expect(s.trial).toEqual({ n: 2, of: 4 });
    expect(s.best).toEqual({ value: 0.61, trial: 0 });
    expect(s.etaS).toBeCloseTo(60); // 60 s for half: 60 s left
    s = applyEvent(s, ev(5, { state: 'failed', error: 'boom' }), t0 + 61_000);
    expect(s).toMatchObject({ state: 'failed', error: 'boom', etaS: null });
    expect(progressLine(s)).toContain('trial 2/4 · best 0.610 (trial 0)');
  });
});
