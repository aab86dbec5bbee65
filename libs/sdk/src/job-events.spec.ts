import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CvpApiError } from './errors';
import { type JobEvent, readJobEvents } from './job-events';

/**
 * The reconnect paths need a server that drops a stream mid-way or goes silent on demand, which
 * the real gateway cannot be made to do: these tests use a local SSE server that does.
 */
describe('readJobEvents against a local SSE server that drops and stalls connections', () => {
  let server: http.Server;
  let url: string;
  let script: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;
  const lastIds: (string | undefined)[] = [];

  const event = (seq: number, data: Record<string, unknown>, kind = 'progress') =>
    `id: ${seq}\nevent: ${kind}\ndata: ${JSON.stringify({ jobId: 'j', seq, at: 't', ...data })}\n\n`;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      lastIds.push(req.headers['last-event-id'] as string | undefined);
      script(req, res, lastIds.length);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  beforeEach(() => (lastIds.length = 0));

  const src = (finished = false) => ({
    open: (last: number, signal: AbortSignal) =>
      fetch(url, { headers: last ? { 'last-event-id': String(last) } : {}, signal }),
    isFinished: async () => finished,
  });
  const collect = async (it: AsyncIterable<JobEvent>) => {
    const out: JobEvent[] = [];
    for await (const e of it) out.push(e);
    return out;
  };

  it('resumes with Last-Event-ID after a dropped stream, never repeating an event, and ends at the terminal state', async () => {
    script = (_req, res, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 1) {
        // Dropped mid-job, once these bytes are out.
        res.write(': heartbeat\n\n' + event(1, { state: 'queued' }, 'state') + event(2, { progress: 0.5 }), () =>
          setTimeout(() => res.destroy(), 50),
        );
      } else {
        // The server replays from its history: an event the client has must not come twice.
        res.end(
          event(2, { progress: 0.5 }) +
            event(3, { progress: 0.9, stage: 'x' }) +
            event(4, { state: 'succeeded' }, 'state') +
            event(5, {}),
        );
      }
    };
    const events = await collect(readJobEvents(src(), { backoffMs: () => 10 }));
    expect(events.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'state'],
      [2, 'progress'],
      [3, 'progress'],
      [4, 'state'],
    ]);
    expect(lastIds).toEqual([undefined, '2']);
  });

  it('reconnects a silent stream after idleMs', async () => {
    script = (_req, res, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 1)
        res.write(event(1, { progress: 0.1 })); // then nothing, not even a heartbeat
      else res.end(event(2, { state: 'failed', error: 'boom' }, 'state'));
    };
    const events = await collect(readJobEvents(src(), { idleMs: 300, backoffMs: () => 10 }));
    expect(events.map((e) => e.error ?? e.progress)).toEqual([0.1, 'boom']);
    expect(lastIds).toEqual([undefined, '1']);
  });

  it('ends quietly when the stream closes and the job already finished; a 401 ends it with the problem', async () => {
    script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('retry: 2000\n\n');
    };
    expect(await collect(readJobEvents(src(true)))).toEqual([]);

    script = (_req, res) => {
      res.writeHead(401, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'urn:cvp:problem:unauthorized', title: 'Unauthorized', status: 401 }));
    };
    const err = await collect(readJobEvents(src())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CvpApiError);
    expect((err as CvpApiError).status).toBe(401);
  });

  it('gives up after maxFailures of 5xx answers, and stops at once when aborted', async () => {
    script = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
      res.end(JSON.stringify({ type: 'x', title: 'Service Unavailable', status: 503 }));
    };
    const err = await collect(readJobEvents(src(), { maxFailures: 2, backoffMs: () => 5 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, retryAfterS: 1 });
    expect(lastIds.length).toBe(3);

    script = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': open\n\n');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('user stopped watching')), 100);
    await expect(collect(readJobEvents(src(), { signal: ac.signal }))).rejects.toThrow('user stopped watching');
  });
});
