import { type DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { BenchConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: BenchConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forRoot({ serviceName: 'bench', config, logger })],
    };
  }
}
