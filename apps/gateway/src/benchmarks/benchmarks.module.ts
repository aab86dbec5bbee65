import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BenchmarkEntity } from './benchmark.entity';
import { BenchmarkRegistryResponder } from './benchmark-registry.responder';
import { BenchmarksController } from './benchmarks.controller';
import { BenchmarksService } from './benchmarks.service';

/** Benchmarks: rows from succeeded bench jobs, report views, bench's selection for deployments. */
@Module({
  imports: [TypeOrmModule.forFeature([BenchmarkEntity])],
  controllers: [BenchmarksController],
  providers: [BenchmarksService, BenchmarkRegistryResponder],
  exports: [BenchmarksService],
})
export class BenchmarksModule {}
