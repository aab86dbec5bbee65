import type { Job } from '@cvp/sdk';
import { type DashboardData, emptyData, orderJobs } from './dashboard-data';
import { clampSelection, initialUi, reduceKey } from './dashboard-state';
import { fit, panelRows, wrap } from './dashboard-view';
import { inferenceUrlFor } from './tui.command';
import { initialProgress } from '../watch/job-progress';

const job = (id: string, state: Job['state'], createdAt: string): Job =>
  ({
    id,
    type: 'train',
    state,
    progress: 0.5,
    stage: 'epoch',
    input: { modelId: 'model-1' },
    createdAt,
  }) as unknown as Job;

function data(): DashboardData {
  return {
    ...emptyData(),
    at: 1,
    jobs: orderJobs([
      job('done-1', 'succeeded', '2025-01-01T00:00:03Z'),
      job('run-1', 'running', '2025-01-01T00:00:01Z'),
      job('q-1', 'queued', '2025-01-01T00:00:02Z'),
    ]),
    leases: {
      tokens: 2,
      inUse: 1,
      pools: [{ node: 'gpu-a', tokens: 2, inUse: 1, waiting: 1 }],
      holders: [
        {
          id: 'l1',
          holder: 'trainer-bridge:run-1',
          node: 'gpu-a',
          priority: 'train',
          fencingToken: 7,
          grantedAt: 'x',
          ageMs: 65_000,
          expiresInMs: 9_000,
        },
      ],
      waiters: [
        {
          requestId: 'r',
          holder: 'bench:b',
          node: 'gpu-a',
          priority: 'bench',
          position: 1,
          enqueuedAt: 'x',
          waitingMs: 3000,
        },
      ],
    },
  };
}

describe('dashboard: data, keys and rows', () => {
  it('orders live jobs first: running, queued, then the rest newest first', () => {
    expect(data().jobs.map((j) => j.id)).toEqual(['run-1', 'q-1', 'done-1']);
  });

  it('moves between panels and rows, asks before cancelling, and only live jobs', () => {
    const d = data();
    let r = reduceKey(initialUi(), d, '', { downArrow: true });
    expect(r.ui.selected.jobs).toBe(1);
    r = reduceKey(r.ui, d, 'c', {});
    expect(r.ui.overlay).toEqual({ kind: 'confirm-cancel', id: 'q-1' });
    const yes = reduceKey(r.ui, d, 'y', {});
    expect(yes.action).toEqual({ kind: 'cancel-job', id: 'q-1' });
    expect(reduceKey(r.ui, d, 'n', {}).action).toBeUndefined();
    const done = reduceKey(reduceKey(yes.ui, d, 'j', {}).ui, d, 'c', {});
    expect(done.ui.message).toBe('job done-1 already succeeded');
    expect(reduceKey(initialUi(), d, '', { tab: true }).ui.panel).toBe('leases');
    expect(reduceKey(initialUi(), d, '', { tab: true, shift: true }).ui.panel).toBe('benchmarks');
    expect(reduceKey(initialUi(), d, '', { return: true }).ui.overlay).toEqual({ kind: 'job', id: 'run-1' });
    expect(reduceKey(initialUi(), d, 'q', {}).action).toEqual({ kind: 'quit' });
    expect(reduceKey(initialUi(), d, 'c', { ctrl: true }).action).toEqual({ kind: 'quit' });
    const far = { ...initialUi(), selected: { ...initialUi().selected, jobs: 9 } };
    expect(clampSelection(far, d).selected.jobs).toBe(2);
  });

  it('shows lease holders and waiters, and job progress bars, within the panel width', () => {
    const d = data();
    const leases = panelRows(d, 'leases', 60);
    expect(leases.rows.map((r) => r.text.trimEnd())).toEqual([
      expect.stringMatching(/^trainer-bridge:run-1\s+train\s+1m05s\s+9s$/),
      expect.stringMatching(/^#1 bench:b\s+bench\s+wait 3s$/),
    ]);
    const jobs = panelRows(d, 'jobs', 100);
    expect(jobs.rows[0].text).toMatch(/^run-1\s+train\s+running\s+██████░░░░░░  50% epoch/);
    for (const r of jobs.rows) expect(r.text.length).toBeLessThanOrEqual(100);
    const live = new Map([
      ['run-1', { ...initialProgress(d.jobs[0]), progress: 0.3, epoch: { n: 3, of: 10 }, etaS: 42, lastSeq: 5 }],
    ]);
    expect(panelRows(d, 'jobs', 100, Date.now(), live).rows[0].text).toMatch(/████░░░░░░░░  30% epoch 3\/10 · ETA 42s/);
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(wrap('use the int8 variant of it', 10)).toEqual(['use the', 'int8', 'variant of', 'it']);
    expect(wrap('abcdefghijkl', 5)).toEqual(['abcde', 'fghij', 'kl']);
    expect(inferenceUrlFor('http://10.0.0.5:3000/')).toBe('http://10.0.0.5:8000');
  });
});
