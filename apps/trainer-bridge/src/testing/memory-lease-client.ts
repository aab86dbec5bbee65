import { randomUUID } from 'node:crypto';
import type { AcquireOptions, GpuLeaseClient, Lease } from '@cvp/gpu-lease';
import { LeaseTimeoutError } from '@cvp/gpu-lease';

/**
 * In-process GpuLeaseClient with N tokens and FIFO waiters, for handler unit tests only (the
 * central service is the gateway's). `revoke()` simulates a lease lost to expiry or force-release.
 */
export class MemoryLeaseClient implements GpuLeaseClient {
  private fencing = 0;
  readonly held = new Map<string, { lease: Lease; lose: (reason: string) => void }>();
  private readonly waiters: (() => void)[] = [];
  readonly grants: { holder: string; fencingToken: number; at: number }[] = [];
  maxConcurrent = 0;

  constructor(private readonly tokens: number) {}

  async acquire(opts: AcquireOptions): Promise<Lease> {
    const deadline = Date.now() + opts.waitMs;
    while (this.held.size >= this.tokens) {
      if (opts.signal?.aborted) throw new Error('aborted');
      if (Date.now() >= deadline) throw new LeaseTimeoutError(opts.holder, opts.waitMs);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const id = randomUUID();
    let lose!: (r: { reason: string }) => void;
    const lost = new Promise<{ reason: string }>((r) => (lose = r));
    let held = true;
    const lease: Lease = {
      id,
      fencingToken: ++this.fencing,
      holder: opts.holder,
      node: opts.node ?? 'memory',
      lost,
      isHeld: () => held,
      release: async () => {
        if (!held) return;
        held = false;
        this.held.delete(id);
        this.waiters.splice(0).forEach((w) => w());
      },
    };
    this.held.set(id, {
      lease,
      lose: (reason) => {
        held = false;
        this.held.delete(id);
        lose({ reason });
        this.waiters.splice(0).forEach((w) => w());
      },
    });
    this.grants.push({ holder: opts.holder, fencingToken: lease.fencingToken, at: Date.now() });
    this.maxConcurrent = Math.max(this.maxConcurrent, this.held.size);
    return lease;
  }

  revokeAll(reason = 'expired (test)'): void {
    for (const h of [...this.held.values()]) h.lose(reason);
  }

  async close(): Promise<void> {
    for (const h of [...this.held.values()]) await h.lease.release();
  }
}
