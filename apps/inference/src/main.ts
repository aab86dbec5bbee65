import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import { AppModule } from './app.module';
import { inferenceConfigSchema } from './config';

async function main() {
  const config = loadConfigOrExit('inference', inferenceConfigSchema);
  const logger = createLogger('inference', config.CVP_LOG_LEVEL);
  await runService({ name: 'inference', module: AppModule.forRoot(config, logger), host: config.CVP_HOST, port: config.CVP_INFERENCE_PORT, logger });
}

void main().catch((e) => {
  process.stderr.write(`inference failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
