import type { Provider } from '@nestjs/common';
import { GPU_LEASE_CLIENT } from '@cvp/gpu-lease';
import { TRAINER_LEASE_CLIENT } from './lease-guard';

/** The handlers' lease client is libs/gpu-lease's NATS client (GpuLeaseModule, global). */
export const leaseClientProvider: Provider = { provide: TRAINER_LEASE_CLIENT, useExisting: GPU_LEASE_CLIENT };
