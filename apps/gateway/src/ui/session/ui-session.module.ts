import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SESSION_AUTHENTICATOR } from '../../auth/session-auth';
import { UsersModule } from '../../users/users.module';
import { UiSessionEntity } from './ui-session.entity';
import { UiSessionsService } from './ui-sessions.service';

/** Web UI sessions; global so the gateway's one access guard can read session cookies on UI routes. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([UiSessionEntity]), UsersModule],
  providers: [UiSessionsService, { provide: SESSION_AUTHENTICATOR, useExisting: UiSessionsService }],
  exports: [UiSessionsService, SESSION_AUTHENTICATOR],
})
export class UiSessionModule {}
