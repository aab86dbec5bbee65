import { ArtifactsModule } from '@cvp/artifacts';
import { type DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config';
import { ApiKeysModule } from './api-keys/api-keys.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { BenchmarksModule } from './benchmarks/benchmarks.module';
import { DatabaseModule } from './database/database.module';
import { DatasetsModule } from './datasets/datasets.module';
import { GpuLeasesModule } from './gpu-leases/gpu-leases.module';
import { JobsModule } from './jobs/jobs.module';
import { ModelsModule } from './models/models.module';
import { UsersModule } from './users/users.module';
import { PackagesModule } from './packages/packages.module';
import { DeploymentsModule } from './deployments/deployments.module';
import { HandoverModule } from './handover/handover.module';
import { LimitsModule } from './limits/limits.module';
import { UiModule } from './ui/ui.module';

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PlatformModule.forRoot({ serviceName: 'gateway', config, logger }),
        ArtifactsModule.forRoot(),
        DatabaseModule,
        AuthModule,
        UsersModule,
        ApiKeysModule,
        AuditModule,
        ModelsModule,
        DatasetsModule,
        // feature modules (one line each)
        BenchmarksModule,
        JobsModule,
        GpuLeasesModule,
        PackagesModule,
        DeploymentsModule,
        LimitsModule,
        HandoverModule,
        UiModule,
      ],
    };
  }
}
