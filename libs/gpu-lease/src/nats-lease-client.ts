import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  GPU_NODE_PATTERN,
  type LeaseAcquireReply,
  LeaseAcquireContract,
  LeaseAcquireReplyContract,
  LeaseGrantedNoticeContract,
  LeaseReleaseContract,
  LeaseReleaseReplyContract,
  LeaseRenewContract,
  LeaseRenewReplyContract,
  Subjects,
} from '@cvp/contracts';
import type { MessageBus } from '@cvp/platform';
import { createInbox, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { type AcquireOptions, type GpuLeaseClient, type Lease, LeaseTimeoutError } from './lease-client';

/**
 * The pool name of this machine: the host name, made a valid node name (a container's host name
 * is its pod or container name, so deployments set CVP_GPU_NODE to the machine's name instead).
 */
export function hostGpuNode(name = hostname()): string {
  const n = name
    .replace(/[^A-Za-z0-9._:/-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return GPU_NODE_PATTERN.test(n) ? n : 'localhost';
}

export interface NatsGpuLeaseClientOptions {
  logger: Logger;
  /** The pool acquires count against unless they name one (default: hostGpuNode()). */
  node?: string;
  /** How often a waiter re-sends its acquire (keeps it alive in the queue, survives service restarts). */
  pollMs?: number;
  /** Bound on each request to the lease service. */
  requestTimeoutMs?: number;
  /** Retry pace of a renew that got no answer (the service may be restarting). */
  renewRetryMs?: number;
}

export class LeaseRefusedError extends Error {
  constructor(reason: string) {
    super(`GPU lease refused: ${reason}`);
    this.name = 'LeaseRefusedError';
  }
}

export class LeaseAbortedError extends Error {
  constructor(holder: string) {
    super(`GPU lease acquire for ${holder} was aborted`);
    this.name = 'LeaseAbortedError';
  }
}

const isTransient = (e: unknown) =>
  /timeout|no responders|503|disconnect|closed|CONNECTION|reconnect/i.test(
    `${(e as Error)?.message} ${(e as { code?: string })?.code}`,
  );

/**
 * A lease this client holds: renewed every ttl/3; lost at once when a renew is refused, and
 * stopMarginMs before the ttl passes without a successful renew (the holder's time to stop).
 */
class HeldLease implements Lease {
  readonly lost: Promise<{ reason: string }>;
  private resolveLost!: (r: { reason: string }) => void;
  private held = true;
  private deadline: number;
  private renewTimer?: NodeJS.Timeout;
  private deadlineTimer?: NodeJS.Timeout;
  private releasing?: Promise<void>;

  constructor(
    private readonly client: NatsGpuLeaseClient,
    readonly id: string,
    readonly fencingToken: number,
    readonly holder: string,
    readonly node: string,
    private readonly ttlMs: number,
    /** Local deadline: send time of the granting request + the time left the service reported. */
    deadline: number,
    private readonly stopMarginMs: number,
  ) {
    this.lost = new Promise((r) => (this.resolveLost = r));
    this.deadline = deadline;
    this.armDeadline();
    this.scheduleRenew(this.renewDelay());
  }

  /** The service's expiry as this client can know it, less the holder's time to stop its work. */
  private get stopBy(): number {
    return this.deadline - this.stopMarginMs;
  }

  /** Every ttl/3, sooner when less than that is left (a grant claimed late, a slow renew). */
  private renewDelay(): number {
    return Math.max(20, Math.min(Math.floor(this.ttlMs / 3), Math.floor((this.stopBy - Date.now()) / 2)));
  }

  isHeld(): boolean {
    return this.held && Date.now() < this.stopBy;
  }

  release(): Promise<void> {
    if (this.releasing) return this.releasing;
    this.stop();
    this.releasing = this.client.sendRelease({ leaseId: this.id });
    return this.releasing;
  }

  /** Stops renewing without telling the service (tests simulate a crashed holder with it). */
  abandon(): void {
    this.stop();
  }

  private stop(): void {
    this.held = false;
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    this.client.forget(this);
  }

  private markLost(reason: string): void {
    if (!this.held) return;
    this.stop();
    this.client.logger.warn({ leaseId: this.id, holder: this.holder, reason }, 'GPU lease lost');
    this.resolveLost({ reason });
    // Tell the service, in case it still counts us (best effort).
    this.releasing = this.client.sendRelease({ leaseId: this.id });
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(
      () => this.markLost('ttl passed without a successful renew'),
      Math.max(0, this.stopBy - Date.now()),
    );
  }

  private scheduleRenew(ms: number): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.renew(), ms);
  }

  private async renew(): Promise<void> {
    if (!this.held) return;
    const sentAt = Date.now();
    try {
      const r = await this.client.bus.request(
        LeaseRenewContract,
        LeaseRenewReplyContract,
        Subjects.leaseRenew,
        { leaseId: this.id, fencingToken: this.fencingToken },
        Math.min(this.client.requestTimeoutMs, Math.max(100, this.stopBy - sentAt)),
      );
      if (!this.held) return;
      if (!r.ok) return this.markLost(r.reason ?? 'renew refused');
      this.deadline = sentAt + (r.expiresInMs ?? this.ttlMs);
      this.armDeadline();
      this.scheduleRenew(this.renewDelay());
    } catch (e) {
      if (!this.held) return;
      // No answer (service restarting, broker hiccup): keep trying until our own deadline says lost.
      this.client.logger.debug({ err: e, leaseId: this.id }, 'GPU lease renew got no answer; retrying');
      this.scheduleRenew(this.client.renewRetryMs);
    }
  }
}

/**
 * GpuLeaseClient over NATS request-reply. acquire() picks a stable request id and re-sends the
 * same acquire every pollMs until granted (the service nudges the client's inbox on a grant, so
 * it rarely waits a full poll); on timeout or abort it withdraws the request by id, which also
 * releases a grant that raced the withdrawal.
 */
export class NatsGpuLeaseClient implements GpuLeaseClient {
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  readonly renewRetryMs: number;
  /** The default pool of this client's acquires. */
  readonly node: string;
  private readonly pollMs: number;
  private readonly held = new Set<HeldLease>();
  private readonly waking = new Map<string, () => void>();
  private readonly pending = new Set<AbortController>();
  private inbox?: string;
  private inboxSub?: Subscription;
  private closed = false;

  constructor(
    readonly bus: MessageBus,
    opts: NatsGpuLeaseClientOptions,
  ) {
    this.logger = opts.logger;
    this.pollMs = opts.pollMs ?? 500;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
    this.renewRetryMs = opts.renewRetryMs ?? 250;
    this.node = opts.node ?? hostGpuNode();
    if (!GPU_NODE_PATTERN.test(this.node)) throw new Error(`GPU node name "${this.node}" is not valid`);
  }

  private ensureInbox(): string {
    if (!this.inbox) {
      this.inbox = createInbox();
      this.inboxSub = this.bus.subscribe(LeaseGrantedNoticeContract, this.inbox, (n) =>
        this.waking.get(n.requestId)?.(),
      );
    }
    return this.inbox;
  }

  async acquire(opts: AcquireOptions): Promise<Lease> {
    if (this.closed) throw new Error('GPU lease client is closed');
    const requestId = randomUUID();
    const node = opts.node ?? this.node;
    const started = Date.now();
    const giveUpAt = started + opts.waitMs;
    const notify = this.ensureInbox();
    const local = new AbortController();
    this.pending.add(local);
    const onAbort = () => local.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (local.signal.aborted || opts.signal?.aborted) {
          await this.sendRelease({ requestId });
          throw new LeaseAbortedError(opts.holder);
        }
        const left = giveUpAt - Date.now();
        if (left <= 0 && Date.now() > started) {
          await this.sendRelease({ requestId });
          throw new LeaseTimeoutError(opts.holder, opts.waitMs);
        }
        const sentAt = Date.now();
        let reply: LeaseAcquireReply | undefined;
        try {
          reply = await this.bus.request(
            LeaseAcquireContract,
            LeaseAcquireReplyContract,
            Subjects.leaseAcquire,
            {
              requestId,
              node,
              holder: opts.holder,
              priority: opts.priority,
              ttlMs: opts.ttlMs,
              waitMs: Math.max(0, left),
              notify,
            },
            this.requestTimeoutMs,
          );
        } catch (e) {
          if (!isTransient(e)) throw e;
          this.logger.debug({ err: e, holder: opts.holder }, 'GPU lease service did not answer; retrying');
        }
        if (reply?.status === 'granted' && reply.lease) {
          if (local.signal.aborted || opts.signal?.aborted) {
            await this.sendRelease({ leaseId: reply.lease.leaseId });
            throw new LeaseAbortedError(opts.holder);
          }
          const l = reply.lease;
          const stopMarginMs = opts.stopMarginMs ?? Math.min(5000, Math.floor(l.ttlMs / 6));
          const lease = new HeldLease(
            this,
            l.leaseId,
            l.fencingToken,
            l.holder,
            l.node,
            l.ttlMs,
            sentAt + l.expiresInMs,
            Math.min(stopMarginMs, Math.floor(l.ttlMs / 2)),
          );
          this.held.add(lease);
          return lease;
        }
        if (reply?.status === 'refused') {
          if (opts.waitMs === 0) throw new LeaseTimeoutError(opts.holder, 0);
          throw new LeaseRefusedError(reply.reason ?? 'refused');
        }
        await this.waitForNudge(requestId, Math.min(this.pollMs, Math.max(1, giveUpAt - Date.now())), local.signal);
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      this.pending.delete(local);
    }
  }

  /** Releases every lease held and withdraws every waiting acquire (service shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending) p.abort();
    await Promise.allSettled([...this.held].map((l) => l.release()));
    this.inboxSub?.unsubscribe();
  }

  /** Leases held right now (for shutdown and tests). */
  heldLeases(): Lease[] {
    return [...this.held].filter((l) => l.isHeld());
  }

  /** @internal */
  forget(l: HeldLease): void {
    this.held.delete(l);
  }

  /** @internal Idempotent on the service; bounded; never throws. */
  async sendRelease(by: { leaseId?: string; requestId?: string }): Promise<void> {
    for (let i = 0; i < 2; i++) {
      try {
        await this.bus.request(
          LeaseReleaseContract,
          LeaseReleaseReplyContract,
          Subjects.leaseRelease,
          by,
          this.requestTimeoutMs,
        );
        return;
      } catch (e) {
        this.logger.warn({ err: e, ...by }, 'GPU lease release got no answer');
      }
    }
    // The service still frees it at ttl (lease) or when the waiter goes stale (request).
  }

  private waitForNudge(requestId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waking.delete(requestId);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waking.set(requestId, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
