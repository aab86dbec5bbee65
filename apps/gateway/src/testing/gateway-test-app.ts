/**
 * Boots the real gateway AppModule in-process for e2e tests: real NATS (CVP_NATS_URL from the
 * jest global setup), a fresh data dir under CVP_TEST_DIR with SQLite in it (or a fresh PostgreSQL
 * database of its own when the run tests PostgreSQL: see test-database.ts), a random loopback port.
 * Seeds one user per role. Usage:
 *
 *   const gw = await startGatewayTestApp();
 *   const token = await gw.login('engineer');
 *   await fetch(`${gw.baseUrl}/api/v1/models`, { headers: { authorization: `Bearer ${token}` } });
 *   await gw.close();
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { ApiKeyRole, Role } from '@cvp/contracts';
import { createLogger, createService, parseConfig } from '@cvp/platform';
import { ApiKeysService } from '../api-keys/api-keys.service';
import { AppModule } from '../app.module';
import { type GatewayConfig, gatewayConfigSchema } from '../config';
import { configureGatewayHttp } from '../gateway-http';
import { UsersService } from '../users/users.service';
import { testDatabaseEnv } from './test-database';

export const TEST_PASSWORDS: Record<Role, string> = {
  admin: 'admin-test-pass-1',
  engineer: 'engineer-test-pass-1',
  viewer: 'viewer-test-pass-1',
};

export interface GatewayTestApp {
  app: INestApplication;
  /** http://127.0.0.1:<port> (REST lives under `${baseUrl}/api/v1`). */
  baseUrl: string;
  /** `${baseUrl}/api/v1` */
  api: string;
  config: GatewayConfig;
  dataDir: string;
  userIds: Record<Role, string>;
  /** Logs in as the seeded user of that role (through POST /auth/login) and returns the access token. */
  login(role: Role): Promise<string>;
  /**
   * Creates an API key and returns the key itself: role `infer` owned by the admin unless told
   * otherwise (`owner` is the seeded user of that role).
   */
  apiKey(name?: string, opts?: { role?: ApiKeyRole; owner?: Role }): Promise<string>;
  close(): Promise<void>;
}

export interface GatewayTestOptions {
  /** Extra env values (e.g. small upload caps); merged over the test defaults; undefined removes one. */
  env?: Record<string, string | undefined>;
  /** Data dir to use instead of a fresh one (to restart on the same database). */
  dataDir?: string;
}

export async function startGatewayTestApp(opts: GatewayTestOptions = {}): Promise<GatewayTestApp> {
  const root = process.env.CVP_TEST_DIR ?? os.tmpdir();
  mkdirSync(root, { recursive: true });
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(root, 'gateway-'));
  const env: NodeJS.ProcessEnv = {
    NODE_ENV: 'test',
    CVP_NATS_URL: process.env.CVP_NATS_URL,
    CVP_DATA_DIR: dataDir,
    CVP_LOG_LEVEL: process.env.CVP_TEST_LOG_LEVEL ?? 'silent',
    CVP_JWT_SECRET: randomBytes(32).toString('hex'),
    CVP_BCRYPT_ROUNDS: '4',
    CVP_ADMIN_USERNAME: 'admin',
    CVP_ADMIN_PASSWORD: TEST_PASSWORDS.admin,
    CVP_LOGIN_THROTTLE_LIMIT: '1000',
    // Suites queue many jobs as one user; the limits suite sets its own.
    CVP_USER_MAX_ACTIVE_JOBS: '10000',
    ...(await testDatabaseEnv(dataDir)),
    ...opts.env,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const config = parseConfig(gatewayConfigSchema, env);
  const logger = createLogger('gateway', config.CVP_LOG_LEVEL);
  const app = await createService({
    name: 'gateway',
    module: AppModule.forRoot(config, logger),
    host: '127.0.0.1',
    port: 0,
    logger,
    configure: configureGatewayHttp,
  });
  await app.listen(0, '127.0.0.1');
  const addr = app.getHttpServer().address() as { port: number };
  const baseUrl = `http://127.0.0.1:${addr.port}`;
  const api = `${baseUrl}/api/v1`;

  // The admin is seeded by the app itself (empty users table); the other roles are added here.
  const users = app.get(UsersService);
  const userIds = {} as Record<Role, string>;
  for (const role of ['admin', 'engineer', 'viewer'] as Role[]) {
    const existing = await users.findByUsername(role);
    userIds[role] = existing
      ? existing.id
      : (await users.create({ username: role, password: TEST_PASSWORDS[role], role })).id;
  }

  const login = async (role: Role): Promise<string> => {
    const r = await fetch(`${api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: role, password: TEST_PASSWORDS[role] }),
    });
    if (r.status !== 200) throw new Error(`login as ${role} failed: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { accessToken: string }).accessToken;
  };
  const apiKey = async (name = 'test-key', o: { role?: ApiKeyRole; owner?: Role } = {}) =>
    (
      await app
        .get(ApiKeysService)
        .create(
          { name, role: o.role ?? 'infer', ownerId: userIds[o.owner ?? 'admin'] },
          { kind: 'user', ownerId: userIds.admin, role: 'admin' },
        )
    ).key;

  return { app, baseUrl, api, config, dataDir, userIds, login, apiKey, close: () => app.close() };
}
