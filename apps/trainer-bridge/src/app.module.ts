import { ArtifactsModule } from '@cvp/artifacts';
import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { GpuLeaseModule } from '@cvp/gpu-lease';
import { JobWorkerModule, RegistryClient } from '@cvp/jobs';
import { MessageBus, PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { TrainerBridgeConfig } from './config';
import { ConvertJobHandler } from './convert/convert-job.handler';
import { PythonReadiness } from './python-runner/python-readiness';
import { PythonRunner } from './python-runner/python-runner.service';
import { PYTHON_RUNNER_OPTIONS } from './python-runner/python-runner.options';
import { TrainJobHandler } from './train/train-job.handler';
import { TRAINER_BRIDGE_OPTIONS, type TrainerBridgeOptions, toTrainerBridgeOptions } from './trainer-bridge.options';
import { TuneJobHandler } from './tune/tune-job.handler';
import { leaseClientProvider } from './train/lease-client.provider';

/** Providers the job handlers need; exported for tests that build the handlers alone. */
export function trainerProviders(options: TrainerBridgeOptions): Provider[] {
  return [
    { provide: TRAINER_BRIDGE_OPTIONS, useValue: options },
    { provide: PYTHON_RUNNER_OPTIONS, useValue: options.python },
    PythonRunner,
    {
      provide: RegistryClient,
      inject: [MessageBus],
      useFactory: (bus: MessageBus) => new RegistryClient(bus, options.registryTimeoutMs),
    },
    PythonReadiness,
  ];
}

@Module({})
export class AppModule {
  static forRoot(
    config: TrainerBridgeConfig,
    logger: Logger,
    options: TrainerBridgeOptions = toTrainerBridgeOptions(config),
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PlatformModule.forRoot({ serviceName: 'trainer-bridge', config, logger }),
        ArtifactsModule.forRoot(),
        GpuLeaseModule.forRoot(),
        JobWorkerModule.forRoot({
          handlers: [ConvertJobHandler, TrainJobHandler, TuneJobHandler],
          providers: [...trainerProviders(options), leaseClientProvider],
          concurrency: config.CVP_TRAINER_CONCURRENCY,
        }),
      ],
    };
  }
}
