import { z } from 'zod';
import { contract, message } from './envelope';
import { LEASE_PRIORITIES } from './enums';

/**
 * GPU lease RPC payloads (request-reply on cvp.gpu.lease.{acquire,renew,release}).
 *
 * Waiting: a client picks a stable `requestId` for one acquire and re-sends the same
 * acquire periodically until it is granted (or gives up and releases by requestId). The service
 * keys waiters by requestId, so a re-send is idempotent, keeps the waiter alive (stale waiters are
 * pruned) and re-enqueues it if the service restarted. Durations are relative (ms) so client and
 * service clocks never need to agree.
 */
export const leasePrioritySchema = z.enum(LEASE_PRIORITIES);
const requestId = z.string().min(8).max(64);
const leaseId = z.string().min(8).max(64);
const fencingToken = z.number().int().min(1);
/**
 * The GPU pool a lease counts against: a node name (one pool per machine) or a GPU on it
 * ("host:0", one pool per GPU). Each pool has its own tokens.
 */
export const GPU_NODE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$/;
export const gpuNodeSchema = z
  .string()
  .regex(GPU_NODE_PATTERN, 'a node name: letters, digits and . _ : / - (at most 63, starting with a letter or digit)');

export const leaseAcquireSchema = message({
  requestId,
  /** The pool (node or GPU) the work will run on. */
  node: gpuNodeSchema,
  holder: z.string().min(1).max(200),
  priority: leasePrioritySchema,
  ttlMs: z.number().int().min(200).max(3_600_000),
  /** How long the waiter may queue; the service drops it after that. */
  waitMs: z.number().int().min(0).max(86_400_000),
  /** Core NATS subject the service nudges when this request is granted (a hint: the grant itself is read by re-sending). */
  notify: z.string().min(1).max(256).optional(),
});
export type LeaseAcquire = z.infer<typeof leaseAcquireSchema>;
export const LeaseAcquireContract = contract<LeaseAcquire>('gpu.lease.acquire', leaseAcquireSchema);

export const leaseGrantSchema = z
  .object({
    leaseId,
    fencingToken,
    holder: z.string(),
    node: gpuNodeSchema,
    ttlMs: z.number().int().min(1),
    /** Time left on the lease when the reply was sent; the client's deadline is its send time plus this (never later than the service's). */
    expiresInMs: z.number().int().min(0),
  })
  .strict();
export type LeaseGrant = z.infer<typeof leaseGrantSchema>;

export const leaseAcquireReplySchema = message({
  requestId,
  status: z.enum(['granted', 'queued', 'refused']),
  lease: leaseGrantSchema.optional(),
  /** 1-based place in the queue while queued. */
  position: z.number().int().min(1).optional(),
  reason: z.string().max(500).optional(),
});
export type LeaseAcquireReply = z.infer<typeof leaseAcquireReplySchema>;
export const LeaseAcquireReplyContract = contract<LeaseAcquireReply>(
  'gpu.lease.acquire.reply',
  leaseAcquireReplySchema,
);

export const leaseRenewSchema = message({ leaseId, fencingToken });
export type LeaseRenew = z.infer<typeof leaseRenewSchema>;
export const LeaseRenewContract = contract<LeaseRenew>('gpu.lease.renew', leaseRenewSchema);

export const leaseRenewReplySchema = message({
  ok: z.boolean(),
  /** On ok: time left after this renew (see leaseGrantSchema.expiresInMs). */
  expiresInMs: z.number().int().min(0).optional(),
  reason: z.string().max(500).optional(),
});
export type LeaseRenewReply = z.infer<typeof leaseRenewReplySchema>;
export const LeaseRenewReplyContract = contract<LeaseRenewReply>('gpu.lease.renew.reply', leaseRenewReplySchema);

/** Release a held lease (by leaseId) or withdraw a waiter / its late grant (by requestId). Idempotent. */
export const leaseReleaseSchema = message({ leaseId: leaseId.optional(), requestId: requestId.optional() }).refine(
  (v) => v.leaseId !== undefined || v.requestId !== undefined,
  'leaseId or requestId is required',
);
export type LeaseRelease = z.infer<typeof leaseReleaseSchema>;
export const LeaseReleaseContract = contract<LeaseRelease>('gpu.lease.release', leaseReleaseSchema);

export const leaseReleaseReplySchema = message({ ok: z.literal(true), released: z.boolean() });
export type LeaseReleaseReply = z.infer<typeof leaseReleaseReplySchema>;
export const LeaseReleaseReplyContract = contract<LeaseReleaseReply>(
  'gpu.lease.release.reply',
  leaseReleaseReplySchema,
);

/** Nudge published on an acquire's `notify` subject when it was granted. */
export const leaseGrantedNoticeSchema = message({ requestId });
export type LeaseGrantedNotice = z.infer<typeof leaseGrantedNoticeSchema>;
export const LeaseGrantedNoticeContract = contract<LeaseGrantedNotice>('gpu.lease.granted', leaseGrantedNoticeSchema);

/** GET /api/v1/gpu/leases */
export interface GpuLeaseHolderView {
  id: string;
  holder: string;
  node: string;
  priority: z.infer<typeof leasePrioritySchema>;
  fencingToken: number;
  grantedAt: string;
  ageMs: number;
  expiresInMs: number;
}
export interface GpuLeaseWaiterView {
  requestId: string;
  holder: string;
  node: string;
  priority: z.infer<typeof leasePrioritySchema>;
  /** 1-based place in its node's queue. */
  position: number;
  enqueuedAt: string;
  waitingMs: number;
}
/** One node's (or GPU's) token pool. */
export interface GpuLeasePoolView {
  node: string;
  tokens: number;
  inUse: number;
  waiting: number;
}
export interface GpuLeasesView {
  /** Default pool size (a node without its own setting). */
  tokens: number;
  /** Holders on every node together. */
  inUse: number;
  pools: GpuLeasePoolView[];
  holders: GpuLeaseHolderView[];
  waiters: GpuLeaseWaiterView[];
}
