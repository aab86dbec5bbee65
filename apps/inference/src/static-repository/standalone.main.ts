import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import { KserveHandler } from '../kserve/kserve.handler';
import { standaloneConfigSchema, standaloneModule } from './standalone';

/** Entry point of a packager bundle's data plane (see standalone.ts); mirrors ../main.ts. */
async function main() {
  const config = loadConfigOrExit('inference', standaloneConfigSchema);
  const logger = createLogger('inference', config.CVP_LOG_LEVEL);
  await runService({
    name: 'inference',
    module: standaloneModule(config, logger),
    host: config.CVP_HOST,
    port: config.CVP_INFERENCE_PORT,
    logger,
    configure: (app) => {
      app.use(app.get(KserveHandler).middleware);
    },
  });
}

void main().catch((e) => {
  process.stderr.write(`inference (standalone) failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
