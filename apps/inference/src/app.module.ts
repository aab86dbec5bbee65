import { type DynamicModule, Module } from '@nestjs/common';
import { GpuLeaseModule } from '@cvp/gpu-lease';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { InferenceConfig } from './config';
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
        GpuLeaseModule.forRoot(),
        KserveModule,
        ProfilingModule,
      ],
    };
  }
}
