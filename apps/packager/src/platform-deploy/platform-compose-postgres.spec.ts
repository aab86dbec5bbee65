import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { composeResolved, REPO_ROOT } from '../testing/fixtures';

/** deploy/docker-compose.postgres.yml merged over the platform stack (offline validation; no Docker engine). */
describe('PostgreSQL override of the platform compose stack (docker-compose 1.29 offline)', () => {
  const files = [
    path.join(REPO_ROOT, 'docker-compose.yml'),
    path.join(REPO_ROOT, 'deploy/docker-compose.postgres.yml'),
  ];

  it('adds a health-checked PostgreSQL with its own volume that the gateway waits for and connects to', () => {
    const password = randomBytes(16).toString('hex'); // per run: no credential is committed
    process.env.CVP_POSTGRES_PASSWORD = password;
    try {
      const model = composeResolved(files, REPO_ROOT);
      const pg = model.services.postgres as {
        healthcheck?: unknown;
        volumes?: unknown;
        environment?: Record<string, string>;
      };
      expect(pg.healthcheck).toBeDefined();
      expect(JSON.stringify(pg.volumes)).toContain('cvp-postgres');
      expect(pg.environment?.POSTGRES_PASSWORD).toBe(password);
      const gw = model.services.gateway as {
        environment: Record<string, string>;
        depends_on: Record<string, { condition: string }>;
      };
      expect(gw.environment.CVP_DB_URL).toBe(`postgres://cvp:${password}@postgres:5432/cvp`);
      expect(gw.depends_on.postgres).toEqual({ condition: 'service_healthy' });
      expect(gw.depends_on.nats).toEqual({ condition: 'service_healthy' }); // the base file's stays
    } finally {
      delete process.env.CVP_POSTGRES_PASSWORD;
    }
  });

  it('refuses to resolve without a password (no default credential)', () => {
    delete process.env.CVP_POSTGRES_PASSWORD;
    expect(() => composeResolved(files, REPO_ROOT)).toThrow(/CVP_POSTGRES_PASSWORD/);
  });
});
