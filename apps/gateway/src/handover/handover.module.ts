import { Module } from '@nestjs/common';
import { UsersModule } from '../users/users.module';
import { HandoverController } from './handover.controller';
import { HandoverService } from './handover.service';

/** Admin handover of owned resources between users. */
@Module({
  imports: [UsersModule],
  controllers: [HandoverController],
  providers: [HandoverService],
})
export class HandoverModule {}
