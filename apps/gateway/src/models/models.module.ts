import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ModelEntity, ModelVersionEntity } from './model.entity';
import { ModelFiles } from './model-files';
import { ModelJobsPort } from './model-jobs.port';
import { ModelUploadInterceptor } from './model-upload.interceptor';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

@Module({
  imports: [TypeOrmModule.forFeature([ModelEntity, ModelVersionEntity])],
  controllers: [ModelsController],
  providers: [ModelsService, ModelFiles, ModelJobsPort, ModelUploadInterceptor],
  exports: [ModelsService, ModelFiles],
})
export class ModelsModule {}
