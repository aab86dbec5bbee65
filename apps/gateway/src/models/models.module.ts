import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { GpuLeasesModule } from '../gpu-leases/gpu-leases.module';
import { JobsModule } from '../jobs/jobs.module';
import { LimitsModule } from '../limits/limits.module';
import { ModelEntity, ModelVersionEntity } from './model.entity';
import { ModelFiles } from './model-files';
import { ModelUploadInterceptor } from './model-upload.interceptor';
import { ModelVersionsService } from './model-versions.service';
import { ModelsController } from './models.controller';
import { ModelsResponder } from './models.responder';
import { ModelsService } from './models.service';

@Module({
  imports: [TypeOrmModule.forFeature([ModelEntity, ModelVersionEntity]), JobsModule, LimitsModule, GpuLeasesModule],
  controllers: [ModelsController],
  providers: [ModelsService, ModelVersionsService, ModelsResponder, ModelFiles, ModelUploadInterceptor],
  exports: [ModelsService, ModelFiles],
})
export class ModelsModule {}
