import type { GpuLeaseClient, Lease } from '@cvp/gpu-lease';
import { LeaseTimeoutError } from '@cvp/gpu-lease';
import { JobCancelledError, RetryableJobError } from '@cvp/jobs';

export const TRAINER_LEASE_CLIENT = Symbol('TRAINER_LEASE_CLIENT');

export interface HeldLease {
  lease: Lease;
  /** Aborts on job cancel OR lease loss: hand it to the child process. */
  signal: AbortSignal;
  /** Set when the lease was lost; the reason an abort happened. */
  lostReason(): string | undefined;
  /** Throws RetryableJobError unless the lease is still ours (check right before committing). */
  assertHeld(): void;
  release(): Promise<void>;
}

/**
 * Acquires a GPU lease for a job and ties it to the job's signal: losing the lease aborts the
 * work (the job is retried, another holder may be using the GPU now).
 */
export async function holdLease(
  client: GpuLeaseClient,
  opts: { holder: string; ttlMs: number; waitMs: number; signal: AbortSignal },
): Promise<HeldLease> {
  let lease: Lease;
  try {
    lease = await client.acquire({
      holder: opts.holder,
      priority: 'train',
      ttlMs: opts.ttlMs,
      waitMs: opts.waitMs,
      signal: opts.signal,
    });
  } catch (e) {
    if (opts.signal.aborted) throw new JobCancelledError('cancelled while waiting for a GPU lease');
    if (e instanceof LeaseTimeoutError) throw new RetryableJobError(e.message);
    throw new RetryableJobError(`GPU lease service: ${(e as Error).message}`);
  }
  const ac = new AbortController();
  let lost: string | undefined;
  const onJobAbort = () => ac.abort();
  opts.signal.addEventListener('abort', onJobAbort, { once: true });
  void lease.lost.then(({ reason }) => {
    if (ac.signal.aborted) return;
    lost = `GPU lease ${lease.id} lost (${reason})`;
    ac.abort();
  });
  return {
    lease,
    signal: ac.signal,
    lostReason: () => lost,
    assertHeld() {
      if (lost || !lease.isHeld())
        throw new RetryableJobError(
          lost ?? `GPU lease ${lease.id} (fencing token ${lease.fencingToken}) is no longer held`,
        );
    },
    async release() {
      opts.signal.removeEventListener('abort', onJobAbort);
      await lease.release().catch(() => undefined);
    },
  };
}
