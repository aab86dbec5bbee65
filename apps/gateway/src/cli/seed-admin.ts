/**
 * Seeds the first admin on an empty data dir, outside the running gateway:
 *   node -r ./scripts/register-paths.js dist/apps/gateway/src/cli/seed-admin.js
 * Password from CVP_ADMIN_PASSWORD, or generated and printed once. Exit 0 also when users
 * already exist (idempotent; prints nothing secret then).
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createLogger, loadConfigOrExit, PlatformModule } from '@cvp/platform';
import { gatewayConfigSchema } from '../config';
import { DatabaseModule } from '../database/database.module';
import { UsersModule } from '../users/users.module';
import { UsersService } from '../users/users.service';

export async function seedAdmin(
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<void> {
  const config = loadConfigOrExit('gateway seed-admin', gatewayConfigSchema, env);
  const logger = createLogger('gateway-seed-admin', 'warn');
  @Module({
    imports: [
      PlatformModule.forRoot({ serviceName: 'gateway-seed-admin', config, logger, nats: false }),
      DatabaseModule,
      UsersModule,
    ],
  })
  class SeedModule {}
  const ctx = await NestFactory.createApplicationContext(SeedModule, { logger: false });
  try {
    const seeded = await ctx.get(UsersService).seedAdminIfEmpty(config.CVP_ADMIN_USERNAME, config.CVP_ADMIN_PASSWORD);
    if (!seeded) out('users exist already; nothing seeded');
    else if (seeded.generatedPassword)
      out(`admin account created: username=${seeded.username} password=${seeded.generatedPassword} (shown once)`);
    else out(`admin account created: username=${seeded.username} (password from CVP_ADMIN_PASSWORD)`);
  } finally {
    await ctx.close();
  }
}

if (require.main === module) {
  seedAdmin().catch((e) => {
    process.stderr.write(`seed-admin failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
