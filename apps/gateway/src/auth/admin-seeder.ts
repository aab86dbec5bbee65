import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectConfig, InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config';
import { UsersService } from '../users/users.service';

/**
 * On an empty users table the gateway seeds its first admin at start-up (password from
 * CVP_ADMIN_PASSWORD, or generated and printed once on stderr, never logged).
 */
@Injectable()
export class AdminSeeder implements OnApplicationBootstrap {
  constructor(
    private readonly users: UsersService,
    @InjectConfig() private readonly config: GatewayConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const seeded = await this.users.seedAdminIfEmpty(this.config.CVP_ADMIN_USERNAME, this.config.CVP_ADMIN_PASSWORD);
    if (!seeded) return;
    this.logger.info({ username: seeded.username }, 'seeded the first admin account');
    if (seeded.generatedPassword) {
      process.stderr.write(
        `\n  cvp admin account created: username=${seeded.username} password=${seeded.generatedPassword}\n  (shown once; change it with PATCH /api/v1/users/:id)\n\n`,
      );
    }
  }
}
