import { type DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { InferenceConfig } from './config';
import { KserveModule } from './kserve/kserve.module';

@Module({})
export class AppModule {
  static forRoot(config: InferenceConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forRoot({ serviceName: 'inference', config, logger }), KserveModule],
    };
  }
}
