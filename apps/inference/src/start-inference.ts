import * as v8 from 'node:v8';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { createLogger, loadConfigOrExit, runService } from '@cvp/platform';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { InferenceConfig } from './config';
import { DataPlaneAuth } from './auth/data-plane-auth';
import { KserveRoutes } from './kserve/kserve.routes';

/**
 * Starts the data plane: the platform's service (main.ts) and a packager bundle's standalone one
 * (static-repository/standalone.main.ts) differ only in their config schema and root module.
 */
export function startInference<S extends z.ZodType<InferenceConfig, z.ZodTypeDef, unknown>>(
  label: string,
  schema: S,
  rootModule: (config: z.infer<S>, logger: Logger) => DynamicModule,
  dataPlane: DataPlaneMount,
): void {
  const run = async () => {
    const config = loadConfigOrExit('inference', schema);
    applyHeapGrowth(config.CVP_INFER_HEAP_GROWTH_PERCENT);
    const logger = createLogger('inference', config.CVP_LOG_LEVEL);
    await runService({
      name: 'inference',
      module: rootModule(config, logger),
      host: config.CVP_HOST,
      port: config.CVP_INFERENCE_PORT,
      logger,
      // /v2/** is served by a raw handler ahead of Nest's router and body parsers (the hot path).
      configure: (app) => mountDataPlane(app, dataPlane),
    });
  };
  void run().catch((e) => {
    process.stderr.write(`${label} failed to start: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}

/** Whether the root module provides DataPlaneAuth (a packager bundle's standalone service has no gateway to ask). */
export interface DataPlaneMount {
  authenticate: boolean;
}

/**
 * The raw /v2 handlers ahead of Nest's router: authentication first (before admission and before
 * any body is read), then the KServe routes. Said by the caller rather than probed with app.get,
 * which on a missing provider makes Nest log and exit the process.
 */
export function mountDataPlane(app: INestApplication, o: DataPlaneMount): void {
  if (o.authenticate) app.use(app.get(DataPlaneAuth).middleware);
  app.use(app.get(KserveRoutes).middleware);
}

/**
 * Sets V8's heap growing factor for this process (CVP_INFER_HEAP_GROWTH_PERCENT). V8 reads the
 * flag each time it recomputes its limits after a full GC, so setting it at start-up takes effect
 * (unlike heap sizes, which only a command-line flag could set, and every launcher would have to).
 */
export function applyHeapGrowth(percent: number, setFlags = v8.setFlagsFromString): void {
  if (percent > 0) setFlags(`--heap-growing-percent=${percent}`);
}
