/**
 * Bounded admission for the data plane. A request takes a place (a ticket) when it arrives,
 * before its body is read: at most `workers + queueCap` places exist, so a burst can hold at most
 * that many bodies in memory; beyond it the answer is 429 at once. A place becomes a worker slot
 * (at most `workers` run at once) once the body is in, FIFO among those waiting, and a request
 * that would wait past its deadline is refused.
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

export interface AdmissionOptions {
  workers: number;
  queueCap: number;
}

interface Waiter {
  ticket: AdmissionTicket;
  /** When it started waiting for a worker (its body was in by then). */
  since: number;
  resolve: (queuedMs: number) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One request's place in admission, from arrival (before the body is read) to release. It counts
 * against the queue cap while the body arrives and while it waits, and holds a worker slot while
 * it runs. Release is idempotent and must follow every ticket, whatever happens to the request.
 */
export class AdmissionTicket {
  /** Set while the ticket holds a worker slot. */
  running = false;
  released = false;
  startedAt = 0;
  waiter?: Waiter;

  constructor(private readonly pool: AdmissionPool) {}

  /** Waits for a worker slot; resolves with the time it waited for one (ms; reading the body is not waiting). */
  acquire(deadline: number, signal?: AbortSignal): Promise<number> {
    return this.pool.acquireSlot(this, deadline, signal);
  }

  release(): void {
    this.pool.releaseTicket(this);
  }
}

export class AdmissionPool {
  private running = 0;
  /** Tickets out: reading a body, waiting for a slot, or running. */
  private held = 0;
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

  /** Admitted requests not holding a worker: bodies still arriving, and those waiting for a slot. */
  get queued(): number {
    return this.held - this.running;
  }

  /** True when a new request would be refused right now. */
  saturated(): boolean {
    return this.closed || this.held >= this.opts.workers + this.opts.queueCap;
  }

  /** Seconds until a slot is likely free: places ahead x mean service time / workers, at least 1. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(((this.queued + 1) * this.meanServiceMs) / this.opts.workers / 1000));
  }

  /**
   * Takes a place for a request that just arrived, before anything of its body is read; throws
   * AdmissionRejectedError ('queue_full', 'closed') when there is none, at once.
   */
  admit(): AdmissionTicket {
    if (this.closed) throw new AdmissionRejectedError('closed', 1, 'server is shutting down');
    if (this.held >= this.opts.workers + this.opts.queueCap)
      throw new AdmissionRejectedError(
        'queue_full',
        this.retryAfterSeconds(),
        `all ${this.opts.workers} workers busy and ${this.queued} requests queued`,
      );
    this.held++;
    return new AdmissionTicket(this);
  }

  /**
   * Runs `work` in a worker slot (admit, acquire, release in one). Resolves with its result;
   * rejects with AdmissionRejectedError when the queue is full or the deadline (absolute, ms since
   * epoch) passes while queued.
   */
  async run<T>(deadline: number, work: (queuedMs: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new AdmissionRejectedError('aborted', 1, 'client went away');
    const ticket = this.admit();
    try {
      return await work(await ticket.acquire(deadline, signal));
    } finally {
      ticket.release();
    }
  }

  /** @internal AdmissionTicket.acquire */
  acquireSlot(ticket: AdmissionTicket, deadline: number, signal?: AbortSignal): Promise<number> {
    if (ticket.released || ticket.running || ticket.waiter) throw new Error('ticket already used');
    if (signal?.aborted) return Promise.reject(new AdmissionRejectedError('aborted', 1, 'client went away'));
    if (this.closed) return Promise.reject(new AdmissionRejectedError('closed', 1, 'server is shutting down'));
    if (this.running < this.opts.workers && this.waiting.length === 0) {
      this.running++;
      ticket.running = true;
      ticket.startedAt = Date.now();
      return Promise.resolve(0);
    }
    const wait = deadline - Date.now();
    if (wait <= 0)
      return Promise.reject(
        new AdmissionRejectedError('deadline', this.retryAfterSeconds(), 'deadline passed before a worker was free'),
      );
    return new Promise<number>((resolve, reject) => {
      const w: Waiter = {
        ticket,
        since: Date.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.dropWaiter(w);
          reject(
            new AdmissionRejectedError(
              'deadline',
              this.retryAfterSeconds(),
              `waited ${Date.now() - w.since} ms for a worker, past the request deadline`,
            ),
          );
        }, wait),
      };
      ticket.waiter = w;
      this.waiting.push(w);
      // A client that hangs up leaves the queue at once: no work is done for nobody.
      signal?.addEventListener(
        'abort',
        () => {
          if (!this.dropWaiter(w)) return;
          clearTimeout(w.timer);
          reject(new AdmissionRejectedError('aborted', 1, 'client went away while queued'));
        },
        { once: true },
      );
    });
  }

  private dropWaiter(w: Waiter): boolean {
    w.ticket.waiter = undefined;
    const i = this.waiting.indexOf(w);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  /** @internal AdmissionTicket.release */
  releaseTicket(ticket: AdmissionTicket): void {
    if (ticket.released) return;
    ticket.released = true;
    this.held--;
    if (ticket.waiter) {
      const w = ticket.waiter;
      this.dropWaiter(w);
      clearTimeout(w.timer);
      w.reject(new AdmissionRejectedError('aborted', 1, 'request ended while queued'));
    }
    if (!ticket.running) return;
    ticket.running = false;
    this.meanServiceMs = 0.9 * this.meanServiceMs + 0.1 * (Date.now() - ticket.startedAt);
    const next = this.waiting.shift();
    if (next) {
      // The slot passes straight to the next waiter.
      clearTimeout(next.timer);
      next.ticket.waiter = undefined;
      next.ticket.running = true;
      next.ticket.startedAt = Date.now();
      next.resolve(next.ticket.startedAt - next.since);
    } else {
      this.running--;
    }
  }

  /** Refuses new work and every queued request; running ones finish. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.ticket.waiter = undefined;
      w.reject(new AdmissionRejectedError('closed', 1, 'server is shutting down'));
    }
  }
}
