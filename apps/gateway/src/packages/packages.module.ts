import { Module, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobCompletionRegistry } from '../jobs/job-completion.registry';
import { JobsModule } from '../jobs/jobs.module';
import { PackageEntity } from './package.entity';
import { PackagesController } from './packages.controller';
import { PackagesService } from './packages.service';

/** Packages: rows from succeeded package jobs, listing and tarball download. POST /jobs/package is the jobs module's. */
@Module({
  imports: [TypeOrmModule.forFeature([PackageEntity]), JobsModule],
  controllers: [PackagesController],
  providers: [PackagesService],
  exports: [PackagesService],
})
export class PackagesModule implements OnModuleInit {
  constructor(
    private readonly completions: JobCompletionRegistry,
    private readonly packages: PackagesService,
  ) {}

  onModuleInit() {
    // A succeeded package job becomes a row before the job is stored succeeded; the result gains the download URL.
    this.completions.register('package', async (job, result) => {
      const view = await this.packages.recordFromJob(job, result);
      return { packageId: view.id, downloadUrl: view.downloadUrl };
    });
  }
}
