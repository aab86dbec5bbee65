import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LimitsModule } from '../limits/limits.module';
import { DatasetEntity } from './dataset.entity';
import { DatasetsController, DatasetUploadInterceptor } from './datasets.controller';
import { DatasetsResponder } from './datasets.responder';
import { DatasetsService } from './datasets.service';

@Module({
  imports: [TypeOrmModule.forFeature([DatasetEntity]), LimitsModule],
  controllers: [DatasetsController],
  providers: [DatasetsService, DatasetsResponder, DatasetUploadInterceptor],
  exports: [DatasetsService],
})
export class DatasetsModule {}
