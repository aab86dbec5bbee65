import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import { AppModule } from './app.module';
import { packagerConfigSchema } from './config';

async function main() {
  const config = loadConfigOrExit('packager', packagerConfigSchema);
  const logger = createLogger('packager', config.CVP_LOG_LEVEL);
  await runService({
    name: 'packager',
    module: AppModule.forRoot(config, logger),
    host: config.CVP_HOST,
    port: config.CVP_PACKAGER_PORT,
    logger,
  });
}

void main().catch((e) => {
  process.stderr.write(`packager failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
