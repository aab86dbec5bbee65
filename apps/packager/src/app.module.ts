import { ArtifactsModule } from '@cvp/artifacts';
import { type DynamicModule, Module } from '@nestjs/common';
import { JobWorkerModule } from '@cvp/jobs';
import { PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import type { PackagerConfig } from './config';
import { PackageJobHandler } from './packaging/package-job.handler';
import { PackagingModule } from './packaging/packaging.module';

@Module({})
export class AppModule {
  static forRoot(config: PackagerConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PlatformModule.forRoot({ serviceName: 'packager', config, logger }),
        ArtifactsModule.forRoot(),
        PackagingModule,
        // Packaging is disk-bound: one job at a time per packager; run more packagers to scale.
        JobWorkerModule.forRoot({
          handlers: [PackageJobHandler],
          imports: [PackagingModule],
          concurrency: config.CVP_PACKAGER_CONCURRENCY,
        }),
      ],
    };
  }
}
