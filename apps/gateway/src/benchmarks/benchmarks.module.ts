import { Module, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobCompletionRegistry } from '../jobs/job-completion.registry';
import { JobsModule } from '../jobs/jobs.module';
import { BenchmarkEntity } from './benchmark.entity';
import { BenchmarkRegistryResponder } from './benchmark-registry.responder';
import { BenchmarksController } from './benchmarks.controller';
import { BenchmarksService } from './benchmarks.service';

/** Benchmarks: rows from succeeded bench jobs, report views, bench's selection for deployments. */
@Module({
  imports: [TypeOrmModule.forFeature([BenchmarkEntity]), JobsModule],
  controllers: [BenchmarksController],
  providers: [BenchmarksService, BenchmarkRegistryResponder],
  exports: [BenchmarksService],
})
export class BenchmarksModule implements OnModuleInit {
  constructor(
    private readonly completions: JobCompletionRegistry,
    private readonly benchmarks: BenchmarksService,
  ) {}

  onModuleInit() {
    // A succeeded bench job becomes a benchmarks row before the job is stored succeeded;
    // a result the gateway cannot store fails the job with that reason.
    this.completions.register('bench', async (job, result) => {
      const b = await this.benchmarks.recordFromJob(job, result);
      return { benchmarkId: b.id, reportUrl: `/api/v1/benchmarks/${b.id}/report` };
    });
  }
}
