import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { JobEvent } from '@cvp/contracts';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { testPostgres } from '../testing/test-database';
import { JobsService } from './jobs.service';
import { transitionConflicts } from './jobs.metrics';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startNatsServer } = require('../../../../scripts/lib/nats-server') as {
  startNatsServer(o: { storeDir: string }): Promise<{ url: string; stop(): Promise<void> }>;
};

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/**
 * Two gateways on one PostgreSQL database: worker events for one job reach both (a redelivery,
 * the shared event consumer) while users cancel through either. Only the database can serialise
 * that; each gateway's in-process queue sees half of it.
 */
describe('job state changes with two gateways on one PostgreSQL database', () => {
  let pg: Awaited<ReturnType<typeof testPostgres>>;
  // Private: the gateways' shared event consumer must not take other test files' events.
  let nats: { url: string; stop(): Promise<void> };
  let a: GatewayTestApp;
  let b: GatewayTestApp;

  beforeAll(async () => {
    pg = await testPostgres();
    nats = await startNatsServer({ storeDir: path.join(process.env.CVP_TEST_DIR!, `nats-two-gw-${randomUUID()}`) });
    const url = await pg.createDatabase(`cvp_two_gw_${randomBytes(4).toString('hex')}`);
    // One secret: a token issued by one gateway is honoured by the other (a balancer may pick either).
    const env = { CVP_DB_URL: url, CVP_NATS_URL: nats.url, CVP_JWT_SECRET: randomBytes(32).toString('hex') };
    a = await startGatewayTestApp({ env });
    b = await startGatewayTestApp({ env });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await nats?.stop();
    await pg?.close();
  });

  const event = (jobId: string, e: Partial<JobEvent>): JobEvent =>
    ({ schemaVersion: 1, jobId, seq: 0, at: new Date().toISOString(), ...e }) as JobEvent;

  it('racing worker events and cancels on both gateways: every job ends in exactly one terminal state, its event log stays gapless', async () => {
    const svcA = a.app.get(JobsService);
    const svcB = b.app.get(JobsService);
    const engineer = { a: await a.login('engineer'), b: await b.login('engineer') };
    const conflictsBefore = (await transitionConflicts.get()).values[0]?.value ?? 0;
    const N = 16;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const r = await fetch(`${(i % 2 ? b : a).api}/jobs/convert`, {
        method: 'POST',
        headers: { authorization: `Bearer ${i % 2 ? engineer.b : engineer.a}`, 'content-type': 'application/json' },
        body: JSON.stringify({ modelId: `missing-model-${i}` }),
      });
      expect(r.status).toBe(202);
      ids.push(((await r.json()) as { id: string }).id);
    }
    const cancel = (gw: GatewayTestApp, token: string, id: string) =>
      fetch(`${gw.api}/jobs/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).then(
        (r) => r.status,
      );

    const failures: unknown[] = [];
    const cancelStatuses: number[] = [];
    await Promise.all(
      ids.map(async (id, i) => {
        const started = await Promise.allSettled([
          svcA.applyWorkerEvent(event(id, { state: 'running', attempt: 1 })),
          svcB.applyWorkerEvent(event(id, { state: 'running', attempt: 1 })),
          svcA.applyWorkerEvent(event(id, { progress: 0.3, stage: 'a' })),
          svcB.applyWorkerEvent(event(id, { progress: 0.5, stage: 'b' })),
        ]);
        // The terminal race: a success (its hook fails: the model does not exist), a failure, a
        // cancel through either gateway, a late progress event, a second delivery's "running".
        const ending = await Promise.allSettled([
          svcA.applyWorkerEvent(event(id, { state: 'succeeded', result: {} })),
          svcB.applyWorkerEvent(event(id, { state: 'failed', error: 'boom' })),
          cancel(i % 2 ? a : b, i % 2 ? engineer.a : engineer.b, id).then((s) => void cancelStatuses.push(s)),
          svcB.applyWorkerEvent(event(id, { progress: 0.9 })),
          svcA.applyWorkerEvent(event(id, { state: 'running', attempt: 2 })),
        ]);
        for (const r of [...started, ...ending]) if (r.status === 'rejected') failures.push(r.reason);
      }),
    );
    expect(failures).toEqual([]);
    expect(cancelStatuses).toHaveLength(N);
    for (const s of cancelStatuses) expect([200, 409]).toContain(s);

    const outcomes: Record<string, number> = {};
    for (const id of ids) {
      const job = await svcB.get(id);
      const log = await svcA.eventsAfter(id, 0);
      // Gapless, no seq twice: every change appended exactly one event.
      expect(log.map((e) => e.seq)).toEqual(Array.from({ length: log.length }, (_, k) => k + 1));
      const terminal = log.filter((e) => e.state && TERMINAL.includes(e.state));
      expect(terminal).toHaveLength(1);
      expect(log[log.length - 1]).toBe(terminal[0]);
      expect(job.state).toBe(terminal[0].state);
      expect(job.finishedAt).not.toBeNull();
      outcomes[job.state] = (outcomes[job.state] ?? 0) + 1;
    }
    expect(Object.values(outcomes).reduce((n, c) => n + c, 0)).toBe(N);
    // A cancel answered 200 is what the job ended as.
    expect(outcomes.cancelled ?? 0).toBe(cancelStatuses.filter((s) => s === 200).length);
    // The race was real: some changes lost their conditional update and were decided again.
    const conflicts = ((await transitionConflicts.get()).values[0]?.value ?? 0) - conflictsBefore;
    expect(conflicts).toBeGreaterThan(0);
  });
});
