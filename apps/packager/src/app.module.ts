import { type DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { PackagerConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: PackagerConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forRoot({ serviceName: 'packager', config, logger })],
    };
  }
}
