import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import { AppModule } from './app.module';
import { inferenceConfigSchema } from './config';
import { KserveHandler } from './kserve/kserve.handler';

async function main() {
  const config = loadConfigOrExit('inference', inferenceConfigSchema);
  const logger = createLogger('inference', config.CVP_LOG_LEVEL);
  await runService({
    name: 'inference',
    module: AppModule.forRoot(config, logger),
    host: config.CVP_HOST,
    port: config.CVP_INFERENCE_PORT,
    logger,
    // /v2/** is served by a raw handler ahead of Nest's router and body parsers (the hot path).
    configure: (app) => {
      app.use(app.get(KserveHandler).middleware);
    },
  });
}

void main().catch((e) => {
  process.stderr.write(`inference failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
