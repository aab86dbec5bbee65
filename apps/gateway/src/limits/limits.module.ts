import { Module } from '@nestjs/common';
import { UserLimitsController } from './user-limits.controller';
import { UserLimitsService } from './user-limits.service';

/** Per-user limits on active jobs and stored bytes; the job, model and data set features enforce them. */
@Module({
  controllers: [UserLimitsController],
  providers: [UserLimitsService],
  exports: [UserLimitsService],
})
export class LimitsModule {}
