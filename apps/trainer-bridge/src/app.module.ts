import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { GpuLeaseModule } from '@cvp/gpu-lease';
import { JobWorkerModule, RegistryClient } from '@cvp/jobs';
import { MessageBus, PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { TrainerBridgeConfig } from './config';
import { ConvertJobHandler } from './convert/convert-job.handler';
import { PythonReadiness } from './python-runner/python-readiness';
import { PythonRunner } from './python-runner/python-runner.service';
import { PYTHON_RUNNER_SETTINGS } from './python-runner/python-runner.settings';
import { TrainJobHandler } from './train/train-job.handler';
import { TRAINER_SETTINGS, type TrainerSettings, toTrainerSettings } from './trainer-settings';
import { TuneJobHandler } from './tune/tune-job.handler';
import { leaseClientProvider } from './train/lease-client.provider';

/** Providers the job handlers need; exported for tests that build the handlers alone. */
export function trainerProviders(settings: TrainerSettings): Provider[] {
  return [
    { provide: TRAINER_SETTINGS, useValue: settings },
    { provide: PYTHON_RUNNER_SETTINGS, useValue: settings.python },
    PythonRunner,
    {
      provide: RegistryClient,
      inject: [MessageBus],
      useFactory: (bus: MessageBus) => new RegistryClient(bus, settings.registryTimeoutMs),
    },
    PythonReadiness,
  ];
}

@Module({})
export class AppModule {
  static forRoot(
    config: TrainerBridgeConfig,
    logger: Logger,
    settings: TrainerSettings = toTrainerSettings(config),
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PlatformModule.forRoot({ serviceName: 'trainer-bridge', config, logger }),
        GpuLeaseModule.forRoot(),
        JobWorkerModule.forRoot({
          handlers: [ConvertJobHandler, TrainJobHandler, TuneJobHandler],
          providers: [...trainerProviders(settings), leaseClientProvider],
          concurrency: config.CVP_TRAINER_CONCURRENCY,
        }),
      ],
    };
  }
}
