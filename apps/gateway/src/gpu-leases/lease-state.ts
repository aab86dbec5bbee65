import { LEASE_PRIORITIES, type LeasePriority } from '@cvp/contracts';

/**
 * The lease table as one document, and every decision on it as a pure function of
 * (state, now). The store persists the result with a compare-and-set write, so a decision only
 * counts if it was made on the latest state. Times are the service's epoch milliseconds.
 */
export interface HolderRecord {
  leaseId: string;
  requestId: string;
  holder: string;
  /** The pool this lease counts against. */
  node: string;
  priority: LeasePriority;
  fencingToken: number;
  ttlMs: number;
  enqueuedAt: number;
  grantedAt: number;
  expiresAt: number;
  /** The waiter's nudge subject, carried over so the grant can be announced. */
  notify?: string;
}

export interface WaiterRecord {
  requestId: string;
  holder: string;
  node: string;
  priority: LeasePriority;
  ttlMs: number;
  enqueuedAt: number;
  /** Last time the client re-sent its acquire; a waiter not seen for `waiterStaleMs` is dropped. */
  lastSeenAt: number;
  /** The client gives up at this time; the service drops the waiter too. */
  deadline: number;
  /** FIFO order within a priority. */
  seq: number;
  notify?: string;
}

export interface LeaseState {
  v: 1;
  /** Next fencing token; only grows (persisted, so it survives restarts). */
  nextFence: number;
  nextSeq: number;
  holders: HolderRecord[];
  waiters: WaiterRecord[];
  /** When each node last asked for a lease, so the GPU view shows idle pools too (forgotten after a week). */
  nodes?: Record<string, number>;
  /**
   * Fencing tokens of leases taken from their holders (expired, force-released), newest last and
   * capped: where GPU work is committed, a token found here belongs to work nobody may commit.
   */
  lost?: number[];
}

/** Lost tokens kept for the commit check; losses are rare, so this spans far more than any job's life. */
export const LOST_FENCES_KEPT = 1024;

function noteLost(s: LeaseState, holders: HolderRecord[]): void {
  if (!holders.length) return;
  const lost = (s.lost ??= []);
  lost.push(...holders.map((h) => h.fencingToken));
  if (lost.length > LOST_FENCES_KEPT) lost.splice(0, lost.length - LOST_FENCES_KEPT);
}

const NODE_FORGOTTEN_AFTER_MS = 7 * 24 * 3600_000;

export interface LeasePolicy {
  /** Pool size of a node without its own setting. */
  tokens: number;
  /** Pool sizes set per node. */
  nodeTokens?: Readonly<Record<string, number>>;
  waiterStaleMs: number;
  /** Queue cap over every node. */
  maxWaiters: number;
}

/** Records written before pools were per node carry no node: they count against this one. */
export const LEGACY_NODE = 'default';

export const poolSize = (p: LeasePolicy, node: string): number => p.nodeTokens?.[node] ?? p.tokens;

/** Fills in what older tables lack (holders and waiters without a node). */
export function upgradeLeaseState(s: LeaseState): LeaseState {
  for (const r of [...s.holders, ...s.waiters]) r.node ??= LEGACY_NODE;
  return s;
}

const countByNode = (holders: HolderRecord[]) => {
  const m = new Map<string, number>();
  for (const h of holders) m.set(h.node, (m.get(h.node) ?? 0) + 1);
  return m;
};

/** 1-based place of a waiter in its node's queue. */
export function queuePosition(s: LeaseState, requestId: string): number {
  const w = s.waiters.find((x) => x.requestId === requestId);
  if (!w) return 0;
  return (
    s.waiters
      .filter((x) => x.node === w.node)
      .sort(byPriorityThenFifo)
      .findIndex((x) => x.requestId === requestId) + 1
  );
}

export const emptyLeaseState = (): LeaseState => ({ v: 1, nextFence: 1, nextSeq: 1, holders: [], waiters: [] });

const rank = (p: LeasePriority) => LEASE_PRIORITIES.indexOf(p);
/** inference > bench > train, then first come first served. */
export const byPriorityThenFifo = (a: WaiterRecord, b: WaiterRecord) =>
  rank(a.priority) - rank(b.priority) || a.seq - b.seq;

export interface Outcome<R> {
  state: LeaseState;
  /** False when nothing needs writing. */
  changed: boolean;
  /** Grants made by this decision (for nudges and metrics). */
  granted: HolderRecord[];
  /** Holders removed because their ttl passed. */
  expired: HolderRecord[];
  result: R;
}

let idCounter = 0;
/** Lease ids: unique, readable, not guessable from the fencing token alone. */
export function newLeaseId(now: number): string {
  idCounter = (idCounter + 1) % 1_000_000;
  return `lease-${now.toString(36)}-${idCounter.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Drops expired holders and dead waiters, then hands free tokens to the best waiters. */
export function normalize(
  s: LeaseState,
  now: number,
  p: LeasePolicy,
): { changed: boolean; granted: HolderRecord[]; expired: HolderRecord[] } {
  let changed = false;
  const expired = s.holders.filter((h) => h.expiresAt <= now);
  if (expired.length) {
    s.holders = s.holders.filter((h) => h.expiresAt > now);
    noteLost(s, expired);
    changed = true;
  }
  const liveWaiters = s.waiters.filter((w) => w.deadline > now && w.lastSeenAt + p.waiterStaleMs > now);
  if (liveWaiters.length !== s.waiters.length) {
    s.waiters = liveWaiters;
    changed = true;
  }
  const granted: HolderRecord[] = [];
  if (s.waiters.length) {
    // Each node's queue is served from its own pool: a full node never blocks another node's waiters.
    const inUse = countByNode(s.holders);
    const waiting: WaiterRecord[] = [];
    for (const w of [...s.waiters].sort(byPriorityThenFifo)) {
      const n = inUse.get(w.node) ?? 0;
      if (n >= poolSize(p, w.node)) {
        waiting.push(w);
        continue;
      }
      inUse.set(w.node, n + 1);
      const h: HolderRecord = {
        leaseId: newLeaseId(now),
        requestId: w.requestId,
        holder: w.holder,
        node: w.node,
        priority: w.priority,
        fencingToken: s.nextFence++,
        ttlMs: w.ttlMs,
        enqueuedAt: w.enqueuedAt,
        grantedAt: now,
        expiresAt: now + w.ttlMs,
        ...(w.notify ? { notify: w.notify } : {}),
      };
      s.holders.push(h);
      granted.push(h);
    }
    if (granted.length) {
      s.waiters = waiting;
      changed = true;
    }
  }
  return { changed, granted, expired };
}

function noteNode(s: LeaseState, node: string, now: number): void {
  const nodes = (s.nodes ??= {});
  nodes[node] = now;
  for (const [n, at] of Object.entries(nodes)) if (at + NODE_FORGOTTEN_AFTER_MS < now) delete nodes[n];
}

export interface AcquireInput {
  requestId: string;
  holder: string;
  node: string;
  priority: LeasePriority;
  ttlMs: number;
  waitMs: number;
  notify?: string;
}

export type AcquireResult =
  | { status: 'granted'; lease: HolderRecord }
  | { status: 'queued'; position: number }
  | { status: 'refused'; reason: string };

/**
 * Acquire, idempotent by requestId: the first call enqueues, later ones (the client re-sends
 * while it waits) refresh the waiter, or return the grant made meanwhile.
 */
export function acquire(s: LeaseState, now: number, p: LeasePolicy, a: AcquireInput): Outcome<AcquireResult> {
  const pre = normalize(s, now, p);
  let changed = pre.changed;
  const granted = [...pre.granted];
  const held = s.holders.find((h) => h.requestId === a.requestId);
  if (held) {
    // The waiter claims a grant made while it was away: proof of life, so its ttl starts now.
    held.expiresAt = now + held.ttlMs;
    return { state: s, changed: true, granted, expired: pre.expired, result: { status: 'granted', lease: held } };
  }

  let w = s.waiters.find((x) => x.requestId === a.requestId);
  if (w) {
    // A re-send only proves the waiter alive; that alone is not worth a write (the service keeps
    // sightings in memory and a restart revives every waiter anyway).
    w.lastSeenAt = now;
  } else {
    if (s.waiters.length >= p.maxWaiters) {
      return {
        state: s,
        changed,
        granted,
        expired: pre.expired,
        result: { status: 'refused', reason: `GPU lease queue is full (${p.maxWaiters} waiters)` },
      };
    }
    w = {
      requestId: a.requestId,
      holder: a.holder,
      node: a.node,
      priority: a.priority,
      ttlMs: a.ttlMs,
      enqueuedAt: now,
      lastSeenAt: now,
      deadline: now + Math.max(a.waitMs, 1),
      seq: s.nextSeq++,
      ...(a.notify ? { notify: a.notify } : {}),
    };
    s.waiters.push(w);
    noteNode(s, a.node, now);
    changed = true;
  }
  const post = normalize(s, now, p);
  granted.push(...post.granted);
  const mine = s.holders.find((h) => h.requestId === a.requestId);
  if (mine)
    return {
      state: s,
      changed: true,
      granted,
      expired: [...pre.expired, ...post.expired],
      result: { status: 'granted', lease: mine },
    };
  if (a.waitMs === 0) {
    // A try-acquire: never queue.
    s.waiters = s.waiters.filter((x) => x.requestId !== a.requestId);
    return {
      state: s,
      changed: true,
      granted,
      expired: pre.expired,
      result: { status: 'refused', reason: `no GPU token free on ${a.node}` },
    };
  }
  const position = queuePosition(s, a.requestId);
  return {
    state: s,
    changed,
    granted,
    expired: [...pre.expired, ...post.expired],
    result: { status: 'queued', position },
  };
}

export type RenewResult = { ok: true; lease: HolderRecord } | { ok: false; reason: string };

/** Extends a held lease by its ttl; refused when it expired, was released or the fencing token is stale. */
export function renew(
  s: LeaseState,
  now: number,
  p: LeasePolicy,
  leaseId: string,
  fencingToken: number,
): Outcome<RenewResult> {
  const pre = normalize(s, now, p);
  const h = s.holders.find((x) => x.leaseId === leaseId);
  if (!h || h.fencingToken !== fencingToken) {
    return {
      state: s,
      changed: pre.changed,
      granted: pre.granted,
      expired: pre.expired,
      result: { ok: false, reason: 'lease expired or was released' },
    };
  }
  h.expiresAt = now + h.ttlMs;
  return { state: s, changed: true, granted: pre.granted, expired: pre.expired, result: { ok: true, lease: h } };
}

/** Releases a lease (by id) or withdraws a request (by requestId: its waiter or its late grant). Idempotent. */
export function release(
  s: LeaseState,
  now: number,
  p: LeasePolicy,
  by: { leaseId?: string; requestId?: string },
): Outcome<{ released: boolean }> {
  const match = (x: { leaseId?: string; requestId: string }) =>
    (by.leaseId !== undefined && x.leaseId === by.leaseId) ||
    (by.requestId !== undefined && x.requestId === by.requestId);
  const beforeH = s.holders.length;
  const beforeW = s.waiters.length;
  s.holders = s.holders.filter((h) => !match(h));
  s.waiters = s.waiters.filter((w) => !match(w));
  const released = s.holders.length !== beforeH || s.waiters.length !== beforeW;
  const post = normalize(s, now, p);
  return {
    state: s,
    changed: released || post.changed,
    granted: post.granted,
    expired: post.expired,
    result: { released },
  };
}

/** An admin's force-release: the lease goes like a release, and its token counts as lost. */
export function revoke(s: LeaseState, now: number, p: LeasePolicy, leaseId: string): Outcome<{ released: boolean }> {
  const h = s.holders.find((x) => x.leaseId === leaseId);
  const out = release(s, now, p, { leaseId });
  if (h) noteLost(s, [h]);
  return out;
}

export type FenceCheck = { ok: true; held: boolean } | { ok: false; reason: string };

/**
 * May work done under `fencingToken` be committed? Yes while its lease is held, and after its
 * holder released it (a holder releases only after its own commit, and only a lease it still held
 * counts as released). No when the lease was taken away first (ttl passed, force-released): another
 * holder may have had the token since. Call on a normalized state, so a lapsed ttl counts even
 * before the next sweep has written it.
 */
export function checkFence(s: LeaseState, fencingToken: number): FenceCheck {
  if (!Number.isInteger(fencingToken) || fencingToken < 1 || fencingToken >= s.nextFence)
    return { ok: false, reason: `fencing token ${fencingToken} was never granted` };
  if (s.lost?.includes(fencingToken))
    return {
      ok: false,
      reason: `GPU lease with fencing token ${fencingToken} was lost (ttl passed or force-released) before its holder released it`,
    };
  return { ok: true, held: s.holders.some((h) => h.fencingToken === fencingToken) };
}

/** After a service restart: waiters could not re-send while it was down, so they get a fresh grace period. */
export function reviveWaiters(s: LeaseState, now: number): boolean {
  let changed = false;
  for (const w of s.waiters) {
    if (w.lastSeenAt < now) {
      w.lastSeenAt = now;
      changed = true;
    }
  }
  return changed;
}
