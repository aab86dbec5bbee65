import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { type JobStreamEvent, TERMINAL_JOB_STATES } from '@cvp/contracts';
import { CvpApiError } from './errors';

/**
 * One event of a job's SSE stream (libs/contracts' JobStreamEvent) with `kind`, the SSE event name.
 */
export type JobEvent = JobStreamEvent & { kind: 'state' | 'progress' };

export const isTerminalEvent = (e: JobEvent) => !!e.state && TERMINAL_JOB_STATES.includes(e.state);

/** How the reader reaches one job's stream (the client supplies it: token, URL, auth). */
export interface JobEventSource {
  /** Opens the stream after event `lastEventId` (sent as Last-Event-ID). */
  open(lastEventId: number, signal: AbortSignal): Promise<Response>;
  /** True when the job has ended (a stream that closed without a terminal event for us). */
  isFinished(): Promise<boolean>;
}

export interface JobEventReadOptions {
  /** Resume after this event (0: from the start, replaying the job's history). */
  after?: number;
  signal?: AbortSignal;
  /** No byte (event or heartbeat comment) for this long: reconnect. Default 45 s, three heartbeats. */
  idleMs?: number;
  /** Connection failures in a row before giving up. Default 8. */
  maxFailures?: number;
  /** Backoff between reconnects, ms, by failure count. */
  backoffMs?: (failures: number) => number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

function toEvent(m: EventSourceMessage): JobEvent | null {
  const seq = Number(m.id);
  if (!Number.isFinite(seq)) return null;
  try {
    const data = JSON.parse(m.data) as Omit<JobEvent, 'kind' | 'seq'>;
    return { ...data, kind: m.event === 'state' ? 'state' : 'progress', seq };
  } catch {
    return null;
  }
}

/**
 * A job's events, in order, each once: the history first, then live ones until the terminal
 * state. Reconnects with Last-Event-ID after a dropped or silent connection (bounded failures,
 * backoff); a 4xx other than 429 ends it with the gateway's problem.
 */
export async function* readJobEvents(src: JobEventSource, opts: JobEventReadOptions = {}): AsyncGenerator<JobEvent> {
  const idleMs = opts.idleMs ?? 45_000;
  const maxFailures = opts.maxFailures ?? 8;
  const backoff = opts.backoffMs ?? ((n: number) => Math.min(10_000, 250 * 2 ** n));
  let last = opts.after ?? 0;
  let failures = 0;
  for (;;) {
    opts.signal?.throwIfAborted();
    const ac = new AbortController();
    const onAbort = () => ac.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ac.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
    };
    try {
      arm();
      const res = await src.open(last, ac.signal);
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => undefined);
        throw CvpApiError.from(res, body);
      }
      const queue: JobEvent[] = [];
      const parser = createParser({
        onEvent: (m) => {
          const e = toEvent(m);
          if (e && e.seq > last) queue.push(e);
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        failures = 0;
        parser.feed(decoder.decode(chunk, { stream: true }));
        clearTimeout(idle); // the consumer's own pace does not count as a silent server
        while (queue.length) {
          const e = queue.shift()!;
          last = e.seq;
          yield e;
          if (isTerminalEvent(e)) return;
        }
        arm();
      }
      if (await src.isFinished()) return;
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (e instanceof CvpApiError && e.status < 500 && e.status !== 429) throw e;
      if (++failures > maxFailures) throw e;
    } finally {
      clearTimeout(idle);
      opts.signal?.removeEventListener('abort', onAbort);
      ac.abort(); // closes the connection when the consumer stops early
    }
    await sleep(backoff(failures), opts.signal);
  }
}
