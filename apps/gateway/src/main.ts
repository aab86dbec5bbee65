import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import { AppModule } from './app.module';
import { gatewayConfigSchema } from './config';
import { configureGatewayHttp } from './gateway-http';

async function main() {
  const config = loadConfigOrExit('gateway', gatewayConfigSchema);
  const logger = createLogger('gateway', config.CVP_LOG_LEVEL);
  await runService({
    name: 'gateway',
    module: AppModule.forRoot(config, logger),
    host: config.CVP_HOST,
    port: config.CVP_GATEWAY_PORT,
    logger,
    configure: configureGatewayHttp,
  });
}

void main().catch((e) => {
  process.stderr.write(`gateway failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
