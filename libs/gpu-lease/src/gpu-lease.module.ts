import { type BeforeApplicationShutdown, type DynamicModule, Global, Inject, Injectable, Module } from '@nestjs/common';
import { MessageBus, SERVICE_CONFIG, SERVICE_LOGGER } from '@cvp/platform';
import { gpuNodeSchema } from '@cvp/contracts';
import type { Logger } from 'pino';
import { NatsGpuLeaseClient, type NatsGpuLeaseClientOptions } from './nats-lease-client';

/** The service config key naming this machine's GPU pool; absent: the host name. */
export const gpuNodeConfigShape = { CVP_GPU_NODE: gpuNodeSchema.optional() };

const gpuNodeOf = (config: Record<string, unknown>): string | undefined =>
  typeof config.CVP_GPU_NODE === 'string' && config.CVP_GPU_NODE ? config.CVP_GPU_NODE : undefined;

/** Injection token of the GpuLeaseClient (an interface, so it needs a token). */
export const GPU_LEASE_CLIENT = Symbol('GPU_LEASE_CLIENT');
export const InjectGpuLeaseClient = () => Inject(GPU_LEASE_CLIENT);

const OPTIONS = Symbol('GPU_LEASE_OPTIONS');

/** Releases every lease this service holds before the bus closes. */
@Injectable()
class LeaseShutdown implements BeforeApplicationShutdown {
  constructor(@Inject(GPU_LEASE_CLIENT) private readonly client: NatsGpuLeaseClient) {}
  async beforeApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

/**
 * `GpuLeaseModule.forRoot()` in a service's AppModule (after PlatformModule) provides
 * `@InjectGpuLeaseClient() leases: GpuLeaseClient` everywhere in that service.
 */
@Global()
@Module({})
export class GpuLeaseModule {
  static forRoot(options: Omit<NatsGpuLeaseClientOptions, 'logger'> = {}): DynamicModule {
    return {
      module: GpuLeaseModule,
      providers: [
        { provide: OPTIONS, useValue: options },
        {
          provide: GPU_LEASE_CLIENT,
          inject: [MessageBus, OPTIONS, SERVICE_LOGGER, SERVICE_CONFIG],
          useFactory: (
            bus: MessageBus,
            opts: Omit<NatsGpuLeaseClientOptions, 'logger'>,
            logger: Logger,
            config: Record<string, unknown>,
          ) => new NatsGpuLeaseClient(bus, { node: gpuNodeOf(config), ...opts, logger }),
        },
        { provide: NatsGpuLeaseClient, useExisting: GPU_LEASE_CLIENT },
        LeaseShutdown,
      ],
      exports: [GPU_LEASE_CLIENT, NatsGpuLeaseClient],
    };
  }
}
