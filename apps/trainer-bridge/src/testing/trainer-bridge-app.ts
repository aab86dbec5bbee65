import * as path from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parseConfig } from '@cvp/platform';
import pino from 'pino';
import { AppModule } from '../app.module';
import { trainerBridgeConfigSchema } from '../config';
import { PythonRunner } from '../python-runner/python-runner.service';
import { toTrainerBridgeOptions } from '../trainer-bridge.options';
import { REPO_ROOT, requirePython } from './python-env';
import { sandboxExecFromSource } from './handler-harness';

export interface TrainerBridgeTestApp {
  app: INestApplicationContext;
  /** Runs `python -m cvp_ml <command>` children the way the job handlers do (e.g. synth-dataset). */
  python: PythonRunner;
  close(): Promise<void>;
}

/**
 * Starts the real trainer-bridge service module in process: convert, train and tune workers on
 * the test run's nats-server, python children from the venv, and the trial lease wrapper run from
 * its TypeScript source (what dist/ holds after the build). `env` overrides config keys.
 */
export async function startTrainerBridge(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<TrainerBridgeTestApp> {
  const config = parseConfig(trainerBridgeConfigSchema, {
    NODE_ENV: 'test',
    CVP_NATS_URL: process.env.CVP_NATS_URL,
    CVP_DATA_DIR: dataDir,
    CVP_PYTHON: requirePython(),
    CVP_LOG_LEVEL: 'silent',
    ...env,
  });
  const options = {
    ...toTrainerBridgeOptions(config, REPO_ROOT),
    trialWrapperCommand: [
      process.execPath,
      path.join(__dirname, 'run-ts.js'),
      path.join(__dirname, '../tune/trial-lease-wrapper.ts'),
    ],
    sandboxExecCommand: sandboxExecFromSource(),
  };
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot(config, pino({ level: 'silent' }), options),
    {
      logger: false,
    },
  );
  await app.init();
  return { app, python: new PythonRunner(options.python), close: () => app.close() };
}
