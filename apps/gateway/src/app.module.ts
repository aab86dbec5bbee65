import { type DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config';
import { BenchmarksModule } from './benchmarks/benchmarks.module';
import { DatabaseModule } from './database/database.module';

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PlatformModule.forRoot({ serviceName: 'gateway', config, logger }),
        DatabaseModule,
        // feature modules (one line each)
        BenchmarksModule,
      ],
    };
  }
}
