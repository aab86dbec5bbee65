import { Injectable, NotFoundException } from '@nestjs/common';
import type { GpuLeasesView, LeaseAcquire } from '@cvp/contracts';
import { InjectConfig, InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import { gpuLeaseConfig } from './gpu-leases.config';
import {
  leaseExpirations,
  leaseFencedCommits,
  leaseQueueDepth,
  leasesInUse,
  leaseWaitSeconds,
} from './gpu-lease.metrics';
import {
  acquire,
  type AcquireResult,
  byPriorityThenFifo,
  checkFence,
  type HolderRecord,
  type LeasePolicy,
  type LeaseState,
  normalize,
  poolSize,
  queuePosition,
  release,
  renew,
  type RenewResult,
  reviveWaiters,
  revoke,
} from './lease-state';
import { LeaseStore } from './lease-store';

const MAX_PENDING_DECISIONS = 10_000;

/** The result of GPU work whose lease was taken from its holder before the commit. */
export class FencedCommitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedCommitError';
  }
}

type Decision<R> = { changed: boolean; granted: HolderRecord[]; expired: HolderRecord[]; result: R };

/**
 * The central GPU lease service: one token pool per node (CVP_GPU_TOKENS each unless
 * CVP_GPU_NODE_TOKENS sets it), FIFO within priority
 * (inference > bench > train), ttl-based expiry computed from stored timestamps, persisted in
 * JetStream KV with compare-and-set writes. Decisions are serialised in this process and fenced
 * across processes by the KV revision.
 */
@Injectable()
export class GpuLeaseService {
  readonly policy: LeasePolicy;
  private readonly urgent: (() => Promise<void>)[] = [];
  private readonly normal: (() => Promise<void>)[] = [];
  private pumping = false;
  private sweeping?: Promise<void>;
  /** Called with every new grant (the responder nudges the waiter). */
  onGrant?: (h: HolderRecord) => void;
  /** When each waiter last re-sent its acquire, kept in memory (re-sends are not written). */
  private readonly sightings = new Map<string, number>();
  /** Grants this process decided (several gateways share the work; tests check each took part). */
  grantsDecided = 0;

  constructor(
    private readonly store: LeaseStore,
    @InjectConfig() config: Record<string, unknown>,
    @InjectLogger() private readonly logger: Logger,
  ) {
    const s = gpuLeaseConfig(config);
    this.policy = {
      tokens: s.CVP_GPU_TOKENS,
      nodeTokens: s.CVP_GPU_NODE_TOKENS,
      waiterStaleMs: s.CVP_GPU_LEASE_WAITER_STALE_MS,
      maxWaiters: s.CVP_GPU_LEASE_MAX_WAITERS,
    };
  }

  /** Opens the table; waiters queued before a restart get a fresh grace period to re-send. */
  async start(): Promise<void> {
    await this.store.open();
    await this.decide(true, (s, now) => {
      const revived = reviveWaiters(s, now);
      const n = normalize(s, now, this.policy);
      return { ...n, changed: revived || n.changed, result: undefined };
    });
  }

  acquire(a: Omit<LeaseAcquire, 'schemaVersion' | 'correlationId'>): Promise<AcquireResult> {
    this.sightings.set(a.requestId, Date.now());
    return this.decide(false, (s, now) => acquire(s, now, this.policy, a));
  }

  renew(leaseId: string, fencingToken: number): Promise<RenewResult> {
    return this.decide(true, (s, now) => renew(s, now, this.policy, leaseId, fencingToken));
  }

  release(by: { leaseId?: string; requestId?: string }): Promise<{ released: boolean }> {
    return this.decide(true, (s, now) => release(s, now, this.policy, by));
  }

  /** Admin force-release; 404 when no such lease is held. Its token counts as lost (fenced off). */
  async forceRelease(leaseId: string, by: string): Promise<void> {
    const r = await this.decide(true, (s, now) => revoke(s, now, this.policy, leaseId));
    if (!r.released) throw new NotFoundException(`no GPU lease ${leaseId} is held`);
    this.logger.warn({ leaseId, by }, 'GPU lease force-released');
  }

  /**
   * Where GPU work is committed: refuses (409) work whose lease was taken from its holder before
   * the holder let it go, so a holder that paused past its ttl cannot commit over its successor.
   */
  async assertCommittable(fencingToken: number, what: string): Promise<void> {
    const { state } = await this.store.read();
    normalize(state, Date.now(), this.policy);
    const r = checkFence(state, fencingToken);
    if (!r.ok) {
      leaseFencedCommits.inc();
      this.logger.warn({ fencingToken, what, reason: r.reason }, 'commit of GPU work refused by its fencing token');
      throw new FencedCommitError(`${what} refused: ${r.reason}`);
    }
  }

  /** Expires holders whose ttl passed and drops dead waiters; hands their tokens on. */
  sweep(): Promise<void> {
    // Coalesced: a slow store must not let sweeps pile up (and starve acquires behind them).
    if (this.sweeping) return this.sweeping;
    this.sweeping = this.decide(false, (s, now) => ({ ...normalize(s, now, this.policy), result: undefined })).finally(
      () => (this.sweeping = undefined),
    );
    return this.sweeping;
  }

  async view(): Promise<GpuLeasesView> {
    const { state } = await this.store.read();
    const now = Date.now();
    // Show the table as the next sweep will leave it (expired holders are already gone for renewals).
    normalize(state, now, this.policy);
    const nodes = new Set([...Object.keys(this.policy.nodeTokens ?? {}), ...Object.keys(state.nodes ?? {})]);
    for (const r of [...state.holders, ...state.waiters]) nodes.add(r.node);
    return {
      tokens: this.policy.tokens,
      inUse: state.holders.length,
      pools: [...nodes].sort().map((node) => ({
        node,
        tokens: poolSize(this.policy, node),
        inUse: state.holders.filter((h) => h.node === node).length,
        waiting: state.waiters.filter((w) => w.node === node).length,
      })),
      holders: state.holders.map((h) => ({
        id: h.leaseId,
        holder: h.holder,
        node: h.node,
        priority: h.priority,
        fencingToken: h.fencingToken,
        grantedAt: new Date(h.grantedAt).toISOString(),
        ageMs: now - h.grantedAt,
        expiresInMs: Math.max(0, h.expiresAt - now),
      })),
      waiters: [...state.waiters].sort(byPriorityThenFifo).map((w) => ({
        requestId: w.requestId,
        holder: w.holder,
        node: w.node,
        priority: w.priority,
        position: queuePosition(state, w.requestId),
        enqueuedAt: new Date(w.enqueuedAt).toISOString(),
        waitingMs: now - w.enqueuedAt,
      })),
    };
  }

  /**
   * One decision at a time in this process (the store's CAS write fences other processes).
   * Renewals and releases go first: a holder must never lose its lease because
   * newcomers' acquires queued up in front of its renew. Both queues are capped.
   */
  private decide<R>(urgent: boolean, fn: (s: LeaseState, now: number) => Decision<R>): Promise<R> {
    const q = urgent ? this.urgent : this.normal;
    if (q.length >= MAX_PENDING_DECISIONS) return Promise.reject(new Error('GPU lease service overloaded; retry'));
    return new Promise<R>((resolve, reject) => {
      q.push(() => this.run(fn).then(resolve, reject));
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (
        let task = this.urgent.shift() ?? this.normal.shift();
        task;
        task = this.urgent.shift() ?? this.normal.shift()
      )
        await task();
    } finally {
      this.pumping = false;
    }
  }

  private async run<R>(fn: (s: LeaseState, now: number) => Decision<R>): Promise<R> {
    let last: Decision<R> | undefined;
    const { result, state } = await this.store.transact((s) => {
      for (const w of s.waiters) w.lastSeenAt = Math.max(w.lastSeenAt, this.sightings.get(w.requestId) ?? 0);
      last = fn(s, Date.now());
      return last;
    });
    if (this.sightings.size > state.waiters.length + 1000) {
      const live = new Set(state.waiters.map((w) => w.requestId));
      for (const id of this.sightings.keys()) if (!live.has(id)) this.sightings.delete(id);
    }
    this.observe(state, last!);
    return result;
  }

  private observe(state: LeaseState, d: Decision<unknown>): void {
    leasesInUse.reset();
    for (const h of state.holders) leasesInUse.inc({ node: h.node });
    leaseQueueDepth.set(state.waiters.length);
    if (!d.changed) return;
    for (const h of d.expired) {
      leaseExpirations.inc();
      this.logger.warn({ leaseId: h.leaseId, holder: h.holder }, 'GPU lease expired (holder stopped renewing)');
    }
    for (const h of d.granted) {
      this.grantsDecided++;
      leaseWaitSeconds.observe({ priority: h.priority }, (h.grantedAt - h.enqueuedAt) / 1000);
      this.logger.info(
        { leaseId: h.leaseId, holder: h.holder, node: h.node, fencingToken: h.fencingToken },
        'GPU lease granted',
      );
      this.onGrant?.(h);
    }
  }
}
