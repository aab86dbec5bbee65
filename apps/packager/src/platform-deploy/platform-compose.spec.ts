import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { composeConfigCheck, composeResolved, REPO_ROOT } from '../testing/fixtures';

/** The platform's own deploy (root docker-compose.yml + deploy/): validated offline; no Docker engine runs here. */
describe("platform's own compose stack (docker-compose 1.29 offline validation; no Docker engine)", () => {
  const compose = path.join(REPO_ROOT, 'docker-compose.yml');

  it('the root docker-compose.yml passes `docker-compose config -q`', () => {
    const alone = composeConfigCheck(compose);
    expect(alone.output).toBe('');
    expect(alone.ok).toBe(true);
  });

  it('the GPU override merges into a valid file that reserves GPUs for the CUDA users', () => {
    const merged = composeResolved([compose, path.join(REPO_ROOT, 'deploy/docker-compose.gpu.yml')], REPO_ROOT);
    const withGpu = Object.entries(merged.services)
      .filter(
        ([, s]) => JSON.stringify(s).includes('"driver": "nvidia"') || JSON.stringify(s).includes('"driver":"nvidia"'),
      )
      .map(([n]) => n)
      .sort();
    expect(withGpu).toEqual(['bench', 'inference', 'native-core', 'trainer-bridge']);
  });

  it('runs nats with a JetStream volume, the five services, the native core, Prometheus and Grafana, each with a health check', () => {
    const services = [
      'nats',
      'native-core',
      'gateway',
      'inference',
      'trainer-bridge',
      'bench',
      'packager',
      'prometheus',
      'grafana',
    ];
    const model = composeResolved([compose], REPO_ROOT);
    expect(Object.keys(model.services).sort()).toEqual([...services].sort());
    for (const s of services) expect(model.services[s].healthcheck).toBeDefined();
    expect(model.services.nats.command).toEqual(expect.arrayContaining(['-js', '-sd', '/data']));
    expect(JSON.stringify(model.services.nats.volumes)).toContain('nats-jetstream');
    // start order through health: every dependency waits for the other's health check
    const deps = Object.entries(model.services).flatMap(([n, s]) =>
      Object.entries((s.depends_on ?? {}) as Record<string, { condition: string }>).map(([d, c]) => [
        n,
        d,
        c.condition,
      ]),
    );
    expect(deps.length).toBeGreaterThanOrEqual(10);
    for (const [, , cond] of deps) expect(cond).toBe('service_healthy');
    expect(deps).toEqual(
      expect.arrayContaining([
        ['inference', 'native-core', 'service_healthy'],
        ['gateway', 'nats', 'service_healthy'],
        ['grafana', 'prometheus', 'service_healthy'],
      ]),
    );
    for (const f of [
      'deploy/Dockerfile.service',
      'deploy/Dockerfile.native',
      'deploy/prometheus/prometheus.yml',
      'deploy/grafana/provisioning/datasources/prometheus.yml',
      'deploy/grafana/provisioning/dashboards/cvp.yml',
    ]) {
      expect(existsSync(path.join(REPO_ROOT, f))).toBe(true);
    }
  });

  it('Prometheus scrapes every service, and the dashboard charts the key metrics from the provisioned data source', () => {
    const prom = readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8');
    for (const t of ['gateway:3000', 'inference:8000', 'trainer-bridge:3101', 'bench:3102', 'packager:3103'])
      expect(prom).toContain(`"${t}"`);
    const dash = JSON.parse(readFileSync(path.join(REPO_ROOT, 'deploy/grafana/dashboards/cvp-overview.json'), 'utf8'));
    const exprs: string[] = dash.panels.flatMap((p: { targets?: { expr: string }[] }) =>
      (p.targets ?? []).map((t) => t.expr),
    );
    for (const m of [
      'cvp_gpu_leases_in_use',
      'cvp_inference_request_duration_seconds_bucket',
      'cvp_inference_queue_seconds_bucket',
      'cvp_inference_compute_seconds_bucket',
      'cvp_jobs?_',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
    ]) {
      expect(exprs.some((e) => e.includes(m))).toBe(true);
    }
    const uid = readFileSync(
      path.join(REPO_ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yml'),
      'utf8',
    ).match(/uid: (\S+)/)![1];
    for (const p of dash.panels.filter((x: { type: string }) => x.type !== 'row')) expect(p.datasource.uid).toBe(uid);
    const ids = dash.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('secrets and the gateway database reach the gateway only: no worker gets the JWT secret, the admin password or the database volume', () => {
    const model = composeResolved([compose], REPO_ROOT);
    const mounts = (s: { volumes?: unknown[] }) => JSON.stringify(s.volumes ?? []);
    for (const [name, s] of Object.entries(model.services)) {
      const env = Object.keys((s.environment ?? {}) as Record<string, unknown>);
      if (name === 'gateway') continue;
      expect([name, env.filter((k) => ['CVP_JWT_SECRET', 'CVP_ADMIN_PASSWORD', 'CVP_DB_FILE'].includes(k))]).toEqual([
        name,
        [],
      ]);
      expect([name, mounts(s).includes('cvp-gateway-db')]).toEqual([name, false]);
    }
    const gw = model.services.gateway;
    expect(mounts(gw)).toContain('cvp-gateway-db');
    expect((gw.environment as Record<string, string>).CVP_DB_FILE).toBe('/var/lib/cvp-gateway/gateway.sqlite');
    expect(readFileSync(path.join(REPO_ROOT, 'deploy/Dockerfile.service'), 'utf8')).toContain(
      'chown 10001:10001 /var/lib/cvp /var/lib/cvp-gateway',
    );
  });

  it('every service image runs as a non-root user', () => {
    for (const f of ['deploy/Dockerfile.service', 'deploy/Dockerfile.native']) {
      const lines = readFileSync(path.join(REPO_ROOT, f), 'utf8').split('\n');
      const users = lines.filter((l) => l.startsWith('USER '));
      expect(users.at(-1)).toBe('USER 10001:10001');
    }
  });
});
