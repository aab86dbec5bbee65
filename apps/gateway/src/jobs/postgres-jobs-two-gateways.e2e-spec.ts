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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SseEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** An SSE client that collects events as they come; `ended` resolves when the server closes the stream. */
/** Every stream a test opened, closed before the gateways (an open stream would hold their shutdown). */
const opened: AbortController[] = [];

function openSse(url: string, headers: Record<string, string> = {}) {
  const ac = new AbortController();
  opened.push(ac);
  const events: SseEvent[] = [];
  let status = 0;
  const ended = (async () => {
    const res = await fetch(url, { headers, signal: ac.signal });
    status = res.status;
    if (res.status !== 200 || !res.body) return;
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString('utf8');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: Partial<SseEvent> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) e.id = Number(line.slice(4));
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
        }
        if (e.id !== undefined) events.push(e as SseEvent);
      }
    }
  })().catch((e) => {
    if (!ac.signal.aborted) throw e;
  });
  return {
    events,
    status: () => status,
    ended,
    close: async () => {
      ac.abort();
      await ended;
    },
    /** Waits (bounded) until an event with this id arrived. */
    async waitForId(id: number, ms = 15_000): Promise<void> {
      const until = Date.now() + ms;
      while (!events.some((e) => e.id === id)) {
        if (Date.now() > until)
          throw new Error(`event ${id} did not arrive within ${ms} ms (got ${events.map((e) => e.id)})`);
        await sleep(20);
      }
    },
  };
}

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
    const env = {
      CVP_DB_URL: url,
      CVP_NATS_URL: nats.url,
      CVP_JWT_SECRET: randomBytes(32).toString('hex'),
      // Streams must get other gateways' events from their notices, not from the fallback re-read.
      CVP_JOB_SSE_POLL_MS: '60000',
    };
    a = await startGatewayTestApp({ env });
    b = await startGatewayTestApp({ env });
  });
  afterAll(async () => {
    for (const ac of opened) ac.abort();
    await a?.close();
    await b?.close();
    await nats?.stop();
    await pg?.close();
  });

  const event = (jobId: string, e: Partial<JobEvent>): JobEvent =>
    ({ schemaVersion: 1, jobId, seq: 0, at: new Date().toISOString(), ...e }) as JobEvent;

  /** A convert job created through gateway A by an engineer (its model does not exist: no worker runs it). */
  const createJobOnA = async (modelId: string) => {
    const token = await a.login('engineer');
    const created = await fetch(`${a.api}/jobs/convert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ modelId }),
    });
    return { id: ((await created.json()) as { id: string }).id, token };
  };

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

  it('a worker event redelivered to the other gateway (the one that applied it died before its ack) is applied once; an older one changes nothing', async () => {
    const svcA = a.app.get(JobsService);
    const svcB = b.app.get(JobsService);
    const { id } = await createJobOnA('missing-model-redelivered');
    const running = event(id, { state: 'running', attempt: 1 });
    const progress = event(id, { progress: 0.4, stage: 'exporting' });
    await svcA.applyWorkerEvent(running, { streamSeq: 9001 });
    // The same delivery on both gateways at once, then a late copy of the first event.
    await Promise.all([
      svcA.applyWorkerEvent(progress, { streamSeq: 9002 }),
      svcB.applyWorkerEvent(progress, { streamSeq: 9002 }),
    ]);
    await svcB.applyWorkerEvent(running, { streamSeq: 9001 });
    await svcB.applyWorkerEvent(event(id, { state: 'failed', error: 'boom' }), { streamSeq: 9003 });
    const log = await svcA.eventsAfter(id, 0);
    expect(log.map((e) => e.state ?? e.stage)).toEqual(['queued', 'running', 'exporting', 'failed']);
    const job = await svcB.get(id);
    expect(job).toMatchObject({ state: 'failed', attempts: 1, progress: 0.4, stage: 'exporting' });
  });

  it('SSE from any replica: a token from one gateway opens the stream on the other, events stored on either reach it, and Last-Event-ID resumes on the other gateway with nothing lost', async () => {
    const svcA = a.app.get(JobsService);
    const svcB = b.app.get(JobsService);
    const { id, token } = await createJobOnA('missing-model-sse');
    const t = (await (
      await fetch(`${a.api}/jobs/${id}/events/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    ).json()) as { streamToken: string; url: string };

    // A token for another job, or a changed one, opens nothing on either gateway.
    const other = openSse(`${b.api}/jobs/${randomUUID()}/events?streamToken=${t.streamToken}`);
    await other.ended;
    expect(other.status()).toBe(401);
    const changed = openSse(`${b.baseUrl}${t.url}x`);
    await changed.ended;
    expect(changed.status()).toBe(401);

    // Stream 1 on gateway B with A's token; events stored by A (relayed) and by B (local).
    const s1 = openSse(`${b.baseUrl}${t.url}`);
    await s1.waitForId(1);
    await svcA.applyWorkerEvent(event(id, { state: 'running', attempt: 1 })); // 2
    await svcA.applyWorkerEvent(event(id, { progress: 0.2, stage: 'a' })); // 3
    await s1.waitForId(3);
    await svcB.applyWorkerEvent(event(id, { progress: 0.4, stage: 'b' })); // 4
    await svcA.applyWorkerEvent(event(id, { progress: 0.5, stage: 'a' })); // 5
    await s1.waitForId(5);
    await s1.close(); // the client loses gateway B

    // Stored while no client is connected.
    await svcB.applyWorkerEvent(event(id, { progress: 0.6, stage: 'b' })); // 6
    const lastSeen = s1.events[s1.events.length - 1].id;
    expect(lastSeen).toBe(5);

    // Stream 2 on gateway A, resuming after the last event it saw; the rest is stored by B.
    const s2 = openSse(`${a.baseUrl}${t.url}`, { 'last-event-id': String(lastSeen) });
    await s2.waitForId(6);
    await svcB.applyWorkerEvent(event(id, { progress: 0.8, stage: 'b' })); // 7
    await s2.waitForId(7);
    await svcB.applyWorkerEvent(event(id, { state: 'failed', error: 'done here' })); // 8
    const endedByServer = await Promise.race([s2.ended.then(() => true), sleep(15_000).then(() => false)]);
    if (!endedByServer) await s2.close();
    expect(endedByServer).toBe(true); // after the terminal event

    const ids = [...s1.events, ...s2.events].map((e) => e.id);
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(s2.events[s2.events.length - 1].data).toMatchObject({ state: 'failed', error: 'done here' });
    expect((await svcA.eventsAfter(id, 0)).map((e) => e.seq)).toEqual(ids);
  });
});
