import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import { AppModule } from './app.module';
import { benchConfigSchema } from './config';

async function main() {
  const config = loadConfigOrExit('bench', benchConfigSchema);
  const logger = createLogger('bench', config.CVP_LOG_LEVEL);
  await runService({
    name: 'bench',
    module: AppModule.forRoot(config, logger),
    host: config.CVP_HOST,
    port: config.CVP_BENCH_PORT,
    logger,
  });
}

void main().catch((e) => {
  process.stderr.write(`bench failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
