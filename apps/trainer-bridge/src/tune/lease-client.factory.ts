import { type GpuLeaseClient, NatsGpuLeaseClient } from '@cvp/gpu-lease';
import type { MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';

/** The NATS GPU lease client of libs/gpu-lease for processes outside Nest (the trial wrapper). */
export function createLeaseClient(bus: MessageBus, logger: Logger): GpuLeaseClient {
  return new NatsGpuLeaseClient(bus, { logger });
}
