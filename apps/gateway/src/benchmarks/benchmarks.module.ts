import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BenchmarkEntity } from './benchmark.entity';
import { BenchmarksController } from './benchmarks.controller';
import { BenchmarksResponder } from './benchmarks.responder';
import { BenchmarksService } from './benchmarks.service';

/** Benchmarks: rows from succeeded bench jobs, report views, bench's selection for deployments. */
@Module({
  imports: [TypeOrmModule.forFeature([BenchmarkEntity])],
  controllers: [BenchmarksController],
  providers: [BenchmarksService, BenchmarksResponder],
  exports: [BenchmarksService],
})
export class BenchmarksModule {}
