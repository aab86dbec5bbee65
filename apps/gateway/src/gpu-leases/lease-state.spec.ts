import {
  acquire,
  checkFence,
  emptyLeaseState,
  LOST_FENCES_KEPT,
  type LeasePolicy,
  type LeaseState,
  normalize,
  release,
  renew,
  reviveWaiters,
  revoke,
  upgradeLeaseState,
} from './lease-state';

const policy: LeasePolicy = { tokens: 2, waiterStaleMs: 1000, maxWaiters: 3 };
const req = (
  id: string,
  priority: 'inference' | 'bench' | 'train' = 'train',
  o: Partial<{ ttlMs: number; waitMs: number; node: string }> = {},
) => ({
  requestId: id,
  holder: `h-${id}`,
  node: o.node ?? 'n1',
  priority,
  ttlMs: o.ttlMs ?? 1000,
  waitMs: o.waitMs ?? 10_000,
});

describe('lease state decisions (pure)', () => {
  let s: LeaseState;
  beforeEach(() => (s = emptyLeaseState()));

  it('grants up to the token count, then queues; re-sending the same request is idempotent', () => {
    expect(acquire(s, 0, policy, req('a')).result.status).toBe('granted');
    expect(acquire(s, 0, policy, req('b')).result.status).toBe('granted');
    const c = acquire(s, 0, policy, req('c'));
    expect(c.result).toEqual({ status: 'queued', position: 1 });
    expect(acquire(s, 10, policy, req('c')).result).toEqual({ status: 'queued', position: 1 });
    const again = acquire(s, 20, policy, req('a')).result;
    expect(again.status === 'granted' && again.lease.fencingToken).toBe(1);
    // Claiming a grant is proof of life: its ttl runs from the claim.
    expect(again.status === 'granted' && again.lease.expiresAt).toBe(1020);
    expect(s.holders).toHaveLength(2);
    expect(s.waiters).toHaveLength(1);
  });

  it('serves inference before bench before train, FIFO within a priority', () => {
    acquire(s, 0, policy, req('x'));
    acquire(s, 0, policy, req('y'));
    for (const [id, p] of [
      ['t1', 'train'],
      ['b1', 'bench'],
      ['t2', 'train'],
      ['i1', 'inference'],
    ] as const)
      acquire(s, 1, { ...policy, maxWaiters: 10 }, req(id, p));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const first = s.holders[0];
      const o = release(s, 2, policy, { leaseId: first.leaseId });
      order.push(...o.granted.map((g) => g.requestId));
    }
    expect(order).toEqual(['i1', 'b1', 't1', 't2']);
  });

  it('fencing tokens only grow, across releases and expiries', () => {
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = acquire(s, i * 2000, policy, req(`r${i}`)).result;
      if (r.status === 'granted') tokens.push(r.lease.fencingToken);
    }
    expect(tokens).toEqual([1, 2, 3, 4, 5]);
  });

  it('expires a holder that stops renewing at its ttl and hands the token to the next waiter', () => {
    const a = acquire(s, 0, policy, req('a', 'train', { ttlMs: 1000 })).result;
    acquire(s, 0, policy, req('b', 'train', { ttlMs: 1000 }));
    acquire(s, 0, policy, req('c'));
    if (a.status !== 'granted') throw new Error('a not granted');
    // a renews, b does not; c keeps re-sending.
    expect(renew(s, 600, policy, a.lease.leaseId, a.lease.fencingToken).result.ok).toBe(true);
    acquire(s, 700, policy, req('c'));
    expect(normalize(s, 999, policy).expired).toHaveLength(0);
    const n = normalize(s, 1000, policy);
    expect(n.expired.map((h) => h.requestId)).toEqual(['b']);
    expect(n.granted.map((h) => h.requestId)).toEqual(['c']);
    expect(s.holders.map((h) => h.requestId).sort()).toEqual(['a', 'c']);
  });

  it('fences commits: held or released by its holder may commit; expired, revoked or never granted may not', () => {
    const grant = (id: string, now = 0) => {
      const r = acquire(s, now, policy, req(id, 'train', { ttlMs: 1000 })).result;
      if (r.status !== 'granted') throw new Error(`${id} not granted`);
      return r.lease;
    };
    const a = grant('a');
    expect(checkFence(s, a.fencingToken)).toEqual({ ok: true, held: true });
    release(s, 10, policy, { leaseId: a.leaseId });
    expect(checkFence(s, a.fencingToken)).toEqual({ ok: true, held: false });

    const b = grant('b', 20);
    normalize(s, 1020, policy); // b stopped renewing
    expect(checkFence(s, b.fencingToken)).toMatchObject({ ok: false, reason: expect.stringMatching(/was lost/) });
    // its late release changes nothing: the token went to whoever came next
    release(s, 1030, policy, { leaseId: b.leaseId });
    expect(checkFence(s, b.fencingToken).ok).toBe(false);

    const c = grant('c', 1040);
    expect(revoke(s, 1050, policy, c.leaseId).result.released).toBe(true);
    expect(checkFence(s, c.fencingToken).ok).toBe(false);
    expect(revoke(s, 1060, policy, c.leaseId).result.released).toBe(false);

    expect(checkFence(s, s.nextFence)).toMatchObject({ ok: false, reason: expect.stringMatching(/never granted/) });
    expect(checkFence(s, 0).ok).toBe(false);
  });

  it('keeps a bounded list of lost tokens', () => {
    for (let i = 0; i < LOST_FENCES_KEPT + 5; i++) {
      acquire(s, i * 10, policy, req(`r${i}`, 'train', { ttlMs: 200 }));
      normalize(s, i * 10 + 1000, policy);
    }
    expect(s.lost).toHaveLength(LOST_FENCES_KEPT);
    expect(s.lost!.at(-1)).toBe(s.nextFence - 1);
  });

  it('refuses a renew after expiry or with a stale fencing token', () => {
    const a = acquire(s, 0, policy, req('a')).result;
    if (a.status !== 'granted') throw new Error('a not granted');
    expect(renew(s, 10, policy, a.lease.leaseId, a.lease.fencingToken + 1).result.ok).toBe(false);
    expect(renew(s, 2000, policy, a.lease.leaseId, a.lease.fencingToken).result).toEqual({
      ok: false,
      reason: 'lease expired or was released',
    });
  });

  it('drops waiters that stop re-sending or pass their wait, caps the queue, and try-acquire never queues', () => {
    acquire(s, 0, policy, req('a', 'train', { ttlMs: 60_000 }));
    acquire(s, 0, policy, req('b', 'train', { ttlMs: 60_000 }));
    acquire(s, 0, policy, req('w1'));
    acquire(s, 0, policy, req('w2', 'train', { waitMs: 300 }));
    acquire(s, 0, policy, req('w3'));
    expect(acquire(s, 0, policy, req('w4')).result).toMatchObject({ status: 'refused' });
    acquire(s, 800, policy, req('w1'));
    normalize(s, 900, policy);
    expect(s.waiters.map((w) => w.requestId)).toEqual(['w1', 'w3']);
    normalize(s, 1500, policy);
    expect(s.waiters.map((w) => w.requestId)).toEqual(['w1']);
    expect(acquire(s, 1500, policy, req('try', 'inference', { waitMs: 0 })).result).toEqual({
      status: 'refused',
      reason: 'no GPU token free on n1',
    });
    expect(s.waiters.map((w) => w.requestId)).toEqual(['w1']);
  });

  it('release is idempotent and withdraws a waiter or its late grant by request id', () => {
    const a = acquire(s, 0, policy, req('a')).result;
    acquire(s, 0, policy, req('b'));
    acquire(s, 0, policy, req('c'));
    if (a.status !== 'granted') throw new Error('a not granted');
    expect(release(s, 1, policy, { requestId: 'c' }).result.released).toBe(true);
    expect(release(s, 1, policy, { requestId: 'c' }).result.released).toBe(false);
    expect(release(s, 1, policy, { requestId: 'a' }).result.released).toBe(true);
    expect(release(s, 1, policy, { leaseId: a.lease.leaseId }).result.released).toBe(false);
    expect(s.holders.map((h) => h.requestId)).toEqual(['b']);
  });

  it('gives waiters a fresh grace period after a restart', () => {
    acquire(s, 0, policy, req('a', 'train', { ttlMs: 60_000 }));
    acquire(s, 0, policy, req('b', 'train', { ttlMs: 60_000 }));
    acquire(s, 0, policy, req('c'));
    expect(reviveWaiters(s, 5000)).toBe(true);
    expect(reviveWaiters(s, 5000)).toBe(false);
    normalize(s, 5500, policy);
    expect(s.waiters.map((w) => w.requestId)).toEqual(['c']);
  });

  it('keeps one pool per node: a full node queues its own waiters and never blocks another node', () => {
    const pools: LeasePolicy = { ...policy, maxWaiters: 100, nodeTokens: { big: 3 } };
    for (const id of ['a1', 'a2', 'a3']) acquire(s, 0, pools, req(id, 'train', { node: 'n1' }));
    for (const id of ['b1', 'b2', 'b3', 'b4']) acquire(s, 0, pools, req(id, 'train', { node: 'big' }));
    // An inference waiter on the full node n1 comes first on n1 but takes nothing from 'other'.
    expect(acquire(s, 0, pools, req('i1', 'inference', { node: 'n1' })).result).toEqual({
      status: 'queued',
      position: 1,
    });
    expect(acquire(s, 0, pools, req('o1', 'train', { node: 'other' })).result.status).toBe('granted');
    const count = (node: string) => s.holders.filter((h) => h.node === node).length;
    expect([count('n1'), count('big'), count('other')]).toEqual([2, 3, 1]);
    expect(acquire(s, 1, pools, req('a3', 'train', { node: 'n1' })).result).toEqual({ status: 'queued', position: 2 });
    expect(acquire(s, 1, pools, req('b4', 'train', { node: 'big' })).result).toEqual({
      status: 'queued',
      position: 1,
    });
    // A release on n1 hands its token to n1's best waiter, not to 'big'.
    const a1 = s.holders.find((h) => h.requestId === 'a1')!;
    const r = release(s, 2, pools, { leaseId: a1.leaseId });
    expect(r.granted.map((h) => [h.requestId, h.node])).toEqual([['i1', 'n1']]);
    expect([count('n1'), count('big')]).toEqual([2, 3]);
  });

  it('reads tables written before pools were per node into the legacy pool', () => {
    const old = JSON.parse(
      JSON.stringify({
        v: 1,
        nextFence: 3,
        nextSeq: 3,
        holders: [{ leaseId: 'lease-x', requestId: 'r', holder: 'h', priority: 'train', fencingToken: 2 }],
        waiters: [{ requestId: 'w', holder: 'h', priority: 'train', seq: 2 }],
      }),
    ) as LeaseState;
    const up = upgradeLeaseState(old);
    expect(up.holders[0].node).toBe('default');
    expect(up.waiters[0].node).toBe('default');
  });
});
