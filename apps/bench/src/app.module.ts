import { ArtifactsModule } from '@cvp/artifacts';
import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { GpuLeaseModule } from '@cvp/gpu-lease';
import { JobWorkerModule } from '@cvp/jobs';
import { MessageBus, PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import { BENCH_OPTIONS, type BenchOptions, benchOptionsFrom } from './bench-options';
import type { BenchConfig } from './config';
import { BenchJobHandler } from './jobs/bench-job.handler';
import { BenchRegistryClient } from './registry/bench-registry.client';
import { ScratchDeploymentsPublisher } from './serving/scratch-deployments.publisher';
import { SERVING_PATH } from './serving/serving-path';

/** Providers the bench handler needs; exported for tests that build the handler alone. */
export function benchProviders(options: BenchOptions): Provider[] {
  return [
    { provide: BENCH_OPTIONS, useValue: options },
    BenchRegistryClient,
    {
      provide: SERVING_PATH,
      inject: [MessageBus],
      useFactory: (bus: MessageBus) => (options.serving ? new ScratchDeploymentsPublisher(bus, options.serving) : null),
    },
  ];
}

@Module({})
export class AppModule {
  static forRoot(config: BenchConfig, logger: Logger, options: BenchOptions = benchOptionsFrom(config)): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PlatformModule.forRoot({ serviceName: 'bench', config, logger }),
        ArtifactsModule.forRoot(),
        GpuLeaseModule.forRoot(),
        // One benchmark at a time per process; the host lock serialises across processes too.
        // Bench jobs signal progress well within the ack wait while they measure.
        JobWorkerModule.forRoot({
          handlers: [BenchJobHandler],
          providers: benchProviders(options),
          concurrency: 1,
          ackWaitMs: 60_000,
        }),
      ],
    };
  }
}
