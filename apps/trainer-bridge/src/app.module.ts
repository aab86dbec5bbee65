import { type DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { TrainerBridgeConfig } from './config';

@Module({})
export class AppModule {
  static forRoot(config: TrainerBridgeConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forRoot({ serviceName: 'trainer-bridge', config, logger })],
    };
  }
}
