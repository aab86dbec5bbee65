// The part of autocannon's API the HTTP load generator uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface Request {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** Called with every response to this request: its status and body (as text). */
      onResponse?: (status: number, body: string, context: unknown, headers: Record<string, string>) => void;
    }
    interface Options {
      url: string;
      connections?: number;
      /** Requests in total (then `duration` is ignored). */
      amount?: number;
      /** Seconds. */
      duration?: number;
      /** Per-request timeout, seconds. */
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      requests?: Request[];
    }
    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      requests: { sent: number; total: number };
      statusCodeStats: Record<string, { count: number }>;
    }
    interface Instance extends EventEmitter {
      stop(): void;
    }
  }

  function autocannon(
    opts: autocannon.Options,
    cb: (err: Error | null, result: autocannon.Result) => void,
  ): autocannon.Instance;

  export = autocannon;
}
