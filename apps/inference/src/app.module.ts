import { ArtifactsModule } from '@cvp/artifacts';
import { type DynamicModule, Module } from '@nestjs/common';
import { GpuLeaseModule } from '@cvp/gpu-lease';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { InferenceConfig } from './config';
import { DATA_PLANE_AUTH_OPTIONS, DataPlaneAuth, dataPlaneAuthRequired } from './auth/data-plane-auth';
import { KserveModule } from './kserve/kserve.module';
import { ProfilingModule } from './profiling/profiling.module';

@Module({})
export class AppModule {
  static forRoot(config: InferenceConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      // GPU engines hold one lease per loaded instance from the central lease service (gateway).
      imports: [
        PlatformModule.forRoot({ serviceName: 'inference', config, logger }),
        ArtifactsModule.forRoot(),
        GpuLeaseModule.forRoot(),
        KserveModule,
        ProfilingModule,
      ],
      providers: [
        DataPlaneAuth,
        {
          provide: DATA_PLANE_AUTH_OPTIONS,
          useValue: {
            required: dataPlaneAuthRequired(config.CVP_INFER_AUTH, config.CVP_HOST),
            metricsToken: config.CVP_METRICS_TOKEN,
            verifyTimeoutMs: config.CVP_INFER_AUTH_TIMEOUT_MS,
            cacheEntries: 10_000,
          },
        },
      ],
    };
  }
}
