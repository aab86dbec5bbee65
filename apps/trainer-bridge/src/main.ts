import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import { AppModule } from './app.module';
import { trainerBridgeConfigSchema } from './config';

async function main() {
  const config = loadConfigOrExit('trainer-bridge', trainerBridgeConfigSchema);
  const logger = createLogger('trainer-bridge', config.CVP_LOG_LEVEL);
  await runService({
    name: 'trainer-bridge',
    module: AppModule.forRoot(config, logger),
    host: config.CVP_HOST,
    port: config.CVP_TRAINER_PORT,
    logger,
  });
}

void main().catch((e) => {
  process.stderr.write(`trainer-bridge failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
