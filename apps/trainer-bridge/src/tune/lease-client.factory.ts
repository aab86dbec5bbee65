import { type GpuLeaseClient, NatsGpuLeaseClient } from '@cvp/gpu-lease';
import type { MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';

/**
 * The NATS GPU lease client of libs/gpu-lease for processes outside Nest (the trial wrapper);
 * `node` is the pool (CVP_GPU_NODE inherited from trainer-bridge; default: the host name).
 */
export function createLeaseClient(bus: MessageBus, logger: Logger, node?: string): GpuLeaseClient {
  return new NatsGpuLeaseClient(bus, { logger, ...(node ? { node } : {}) });
}
