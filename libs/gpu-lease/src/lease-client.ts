/**
 * Client side of the central GPU lease service (hosted by the gateway), used by every service.
 * NatsGpuLeaseClient implements it over NATS request-reply (cvp.gpu.lease.{acquire,renew,release});
 * callers code against these types, so tests can hand in a double.
 */
import type { LeasePriority } from '@cvp/contracts';

export interface AcquireOptions {
  /** Who holds it, for humans: "<service>:<job or deployment id>". */
  holder: string;
  priority: LeasePriority;
  /** The pool (node or GPU, e.g. "host:0") the work runs on; default: the client's node. */
  node?: string;
  /** Lease time-to-live; the client renews every ttl/3. */
  ttlMs: number;
  /** How long to wait in the queue before giving up (LeaseTimeoutError). */
  waitMs: number;
  /** Aborting withdraws the request from the queue (or releases a lease granted meanwhile). */
  signal?: AbortSignal;
  /**
   * How long before the service may hand the token on that `lost` fires when renewals stop
   * getting through: the time the holder needs to stop its GPU work (e.g. a child's kill grace).
   * Without it the holder would still be working when the next waiter starts, and the GPU would
   * briefly run more jobs than it has tokens. Default: min(ttl / 6, 5 s).
   */
  stopMarginMs?: number;
}

export interface Lease {
  readonly id: string;
  /** Grows with every grant; work that commits GPU results checks it is still current. */
  readonly fencingToken: number;
  readonly holder: string;
  /** The pool it counts against. */
  readonly node: string;
  /**
   * Resolves when the lease is lost (not renewed in time, force-released); never rejects. On a
   * missed renewal it fires stopMarginMs before the service's expiry, so the holder can stop first.
   */
  readonly lost: Promise<{ reason: string }>;
  isHeld(): boolean;
  /** Idempotent. */
  release(): Promise<void>;
}

export class LeaseTimeoutError extends Error {
  constructor(holder: string, waitMs: number) {
    super(`no GPU lease for ${holder} within ${waitMs} ms`);
    this.name = 'LeaseTimeoutError';
  }
}

export interface GpuLeaseClient {
  acquire(opts: AcquireOptions): Promise<Lease>;
  /** Releases every lease this client holds (service shutdown). */
  close(): Promise<void>;
}
