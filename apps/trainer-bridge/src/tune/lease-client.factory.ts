import type { GpuLeaseClient } from '@cvp/gpu-lease';
import type { MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';

/** The NATS GPU lease client of libs/gpu-lease (#4) for processes outside Nest (the trial wrapper). */
export function createLeaseClient(_bus: MessageBus, _logger: Logger): GpuLeaseClient {
  throw new Error('libs/gpu-lease has no NATS client yet (#4)');
}
