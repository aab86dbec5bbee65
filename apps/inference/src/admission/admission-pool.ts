/**
 * Bounded admission for the data plane: at most `workers` requests run at once, at most
 * `queueCap` wait (FIFO), and a request that would wait past its deadline is refused. A full
 * queue answers at once (the caller turns it into 429 + Retry-After), never a hang.
 */
export class AdmissionRejectedError extends Error {
  constructor(
    readonly reason: 'queue_full' | 'deadline' | 'closed' | 'aborted',
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdmissionRejectedError';
  }
}

interface Waiter {
  resolve: (queuedMs: number) => void;
  reject: (e: Error) => void;
  enqueuedAt: number;
  timer: NodeJS.Timeout;
}

export interface AdmissionOptions {
  workers: number;
  queueCap: number;
}

export class AdmissionPool {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private closed = false;
  /** Exponentially weighted mean service time, for Retry-After estimates. */
  private meanServiceMs = 100;

  constructor(private readonly opts: AdmissionOptions) {
    if (opts.workers < 1) throw new RangeError('workers must be >= 1');
    if (opts.queueCap < 0) throw new RangeError('queueCap must be >= 0');
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** True when a new request would be refused right now (all workers busy, queue full). */
  saturated(): boolean {
    return this.closed || (this.running >= this.opts.workers && this.waiting.length >= this.opts.queueCap);
  }

  /** Seconds until a slot is likely free: queue length x mean service time / workers, at least 1. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(((this.waiting.length + 1) * this.meanServiceMs) / this.opts.workers / 1000));
  }

  /**
   * Runs `work` in a worker slot. Resolves with its result; rejects with AdmissionRejectedError
   * when the queue is full or the deadline (absolute, ms since epoch) passes while queued.
   */
  async run<T>(deadline: number, work: (queuedMs: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const queuedMs = await this.acquire(deadline, signal);
    const started = Date.now();
    try {
      return await work(queuedMs);
    } finally {
      this.meanServiceMs = 0.9 * this.meanServiceMs + 0.1 * (Date.now() - started);
      this.releaseSlot();
    }
  }

  private acquire(deadline: number, signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(new AdmissionRejectedError('aborted', 1, 'client went away'));
    if (this.closed) return Promise.reject(new AdmissionRejectedError('closed', 1, 'server is shutting down'));
    if (this.running < this.opts.workers && this.waiting.length === 0) {
      this.running++;
      return Promise.resolve(0);
    }
    if (this.waiting.length >= this.opts.queueCap) {
      return Promise.reject(
        new AdmissionRejectedError(
          'queue_full',
          this.retryAfterSeconds(),
          `all ${this.opts.workers} workers busy and ${this.waiting.length} requests queued`,
        ),
      );
    }
    const wait = deadline - Date.now();
    if (wait <= 0)
      return Promise.reject(
        new AdmissionRejectedError(
          'deadline',
          this.retryAfterSeconds(),
          'deadline passed before the request could be queued',
        ),
      );
    return new Promise<number>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        enqueuedAt: Date.now(),
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(w);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(
            new AdmissionRejectedError(
              'deadline',
              this.retryAfterSeconds(),
              `waited ${Date.now() - w.enqueuedAt} ms in the queue, past the request deadline`,
            ),
          );
        }, wait),
      };
      this.waiting.push(w);
      // A client that hangs up leaves the queue at once: no work is done for nobody.
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiting.indexOf(w);
          if (i < 0) return;
          this.waiting.splice(i, 1);
          clearTimeout(w.timer);
          reject(new AdmissionRejectedError('aborted', 1, 'client went away while queued'));
        },
        { once: true },
      );
    });
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve(Date.now() - next.enqueuedAt); // the slot passes straight to the next waiter
    } else {
      this.running--;
    }
  }

  /** Refuses new work and every queued request; running ones finish. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new AdmissionRejectedError('closed', 1, 'server is shutting down'));
    }
  }
}
