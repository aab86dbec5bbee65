import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/api-keys.module';
import { AuditModule } from '../audit/audit.module';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { DatasetsModule } from '../datasets/datasets.module';
import { DeploymentsModule } from '../deployments/deployments.module';
import { GpuLeasesModule } from '../gpu-leases/gpu-leases.module';
import { JobsModule } from '../jobs/jobs.module';
import { LimitsModule } from '../limits/limits.module';
import { ModelsModule } from '../models/models.module';
import { UsersModule } from '../users/users.module';
import { UiAdminController } from './admin/ui-admin.controller';
import { UiBenchmarksController } from './benchmarks/ui-benchmarks.controller';
import { UiDatasetsController } from './datasets/ui-datasets.controller';
import { DeploymentLoadService } from './deployments/deployment-load.service';
import { UiDeploymentsController } from './deployments/ui-deployments.controller';
import { UiGpuController } from './gpu/ui-gpu.controller';
import { UiJobsController } from './jobs/ui-jobs.controller';
import { UiModelsController } from './models/ui-models.controller';
import { UiOverviewController } from './overview/ui-overview.controller';
import { CsrfGuard } from './session/csrf.guard';
import { UiAuthController } from './session/ui-auth.controller';
import { UiSessionModule } from './session/ui-session.module';
import { UiAssets } from './ui-assets';
import { UiAssetsController } from './ui-assets.controller';
import { UiExceptionFilter } from './ui-exception.filter';
import { UiRenderer } from './ui-renderer';

/**
 * The web UI under /ui: server-rendered pages (preact JSX rendered to strings) with htmx, signed in
 * by session cookie. Pages call the same services as the REST controllers, behind the same global
 * access guard and role table, and their actions are audited like REST calls.
 */
@Module({
  imports: [
    UiSessionModule,
    UsersModule,
    ApiKeysModule,
    AuditModule,
    LimitsModule,
    ModelsModule,
    DatasetsModule,
    JobsModule,
    BenchmarksModule,
    DeploymentsModule,
    GpuLeasesModule,
  ],
  controllers: [
    UiAssetsController,
    UiAuthController,
    UiModelsController,
    UiDatasetsController,
    UiJobsController,
    UiBenchmarksController,
    UiDeploymentsController,
    UiGpuController,
    UiAdminController,
    // Last: its GET /ui must not shadow the other controllers' routes.
    UiOverviewController,
  ],
  providers: [UiAssets, UiRenderer, UiExceptionFilter, CsrfGuard, DeploymentLoadService],
})
export class UiModule {}
