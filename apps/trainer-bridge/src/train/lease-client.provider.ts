import type { Provider } from '@nestjs/common';
import { TRAINER_LEASE_CLIENT } from './lease-guard';

/** Binds the handlers' lease client to libs/gpu-lease's NATS client (#4). */
export const leaseClientProvider: Provider = {
  provide: TRAINER_LEASE_CLIENT,
  useFactory: () => {
    throw new Error('libs/gpu-lease has no NATS client yet (#4)');
  },
};
