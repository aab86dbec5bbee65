import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { jobStreamConfigs } from '@cvp/jobs';
import { composeConfigCheck, composeResolved, REPO_ROOT } from '../testing/fixtures';

type Service = {
  command?: string[];
  environment?: Record<string, string | null>;
  volumes?: (string | { source?: string; target: string; type: string })[];
  ports?: unknown[];
  healthcheck?: unknown;
  depends_on?: Record<string, { condition: string }>;
  networks?: Record<string, { aliases?: string[] } | null>;
  image?: string;
};

const CLUSTER = path.join(REPO_ROOT, 'deploy/docker-compose.cluster.yml');
// Made per run: the file needs them set, and no credential is committed (a JWT secret is >= 32 characters).
const SECRETS = {
  CVP_JWT_SECRET: randomBytes(32).toString('hex'),
  CVP_POSTGRES_PASSWORD: randomBytes(16).toString('hex'),
};
const REPLICATED = ['gateway', 'inference', 'native-core', 'trainer-bridge', 'bench', 'packager'];

/** docker-compose 1.29 prints named volumes as `source:target:mode`, bind mounts with an absolute source. */
function mounts(s: Service): { source: string; target: string; named: boolean }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, named: v.type === 'volume' };
    const [source, target] = v.split(':');
    return { source, target, named: !source.startsWith('/') && !source.startsWith('.') };
  });
}

function resolved(): Record<string, Service> {
  Object.assign(process.env, SECRETS);
  try {
    return composeResolved([CLUSTER], path.dirname(CLUSTER)).services as Record<string, Service>;
  } finally {
    for (const k of Object.keys(SECRETS)) delete process.env[k];
  }
}

/** deploy/docker-compose.cluster.yml: validated offline by Debian's docker-compose 1.29 (no Docker engine here). */
describe('cluster compose file (docker-compose 1.29 offline validation; no Docker engine)', () => {
  let services: Record<string, Service>;
  beforeAll(() => {
    services = resolved();
  }, 60_000);

  it('passes `docker-compose config -q` with the operator secrets, and refuses to resolve without either', () => {
    const ok = composeConfigCheck(CLUSTER, SECRETS);
    expect(ok.output).toBe('');
    expect(ok.ok).toBe(true);
    for (const missing of Object.keys(SECRETS)) {
      const env = { ...SECRETS } as Record<string, string>;
      delete env[missing];
      const r = composeConfigCheck(CLUSTER, env);
      expect([missing, r.ok]).toEqual([missing, false]);
      expect(r.output).toContain(missing);
    }
  }, 60_000);

  it('runs three clustered NATS nodes with JetStream, each with its own volume, all behind the one name `nats`', () => {
    const nodes = ['nats-1', 'nats-2', 'nats-3'];
    const volumes = new Set<string>();
    for (const n of nodes) {
      const s = services[n];
      const arg = (flag: string) => s.command![s.command!.indexOf(flag) + 1];
      expect(s.command).toEqual(expect.arrayContaining(['-js', '-sd', '/data']));
      expect(arg('--name')).toBe(n); // clustered JetStream needs unique server names
      expect(arg('--cluster_name')).toBe('cvp');
      expect(arg('--routes').split(',').sort()).toEqual(nodes.map((x) => `nats://${x}:6222`));
      expect(s.networks?.cvp?.aliases).toEqual(['nats']);
      expect(s.healthcheck).toBeDefined();
      const data = mounts(s).find((v) => v.target === '/data')!;
      volumes.add(data.source);
    }
    expect(volumes.size).toBe(3);
    for (const s of Object.values(services))
      if (s.environment?.CVP_NATS_URL) expect(s.environment.CVP_NATS_URL).toBe('nats://nats:4222');
  });

  it('puts every job stream, the lease KV bucket and the artifact bucket at R3 before any service starts', () => {
    const init = services['jetstream-init'];
    expect(init.depends_on).toEqual({
      'nats-1': { condition: 'service_healthy' },
      'nats-2': { condition: 'service_healthy' },
      'nats-3': { condition: 'service_healthy' },
    });
    for (const [name, s] of Object.entries(services)) {
      if (!REPLICATED.some((r) => name.startsWith(`${r}-`)) || name.startsWith('native-core')) continue;
      expect([name, s.depends_on?.['jetstream-init']]).toEqual([name, { condition: 'service_completed_successfully' }]);
      expect([name, s.environment?.CVP_ARTIFACTS_REPLICAS]).toEqual([name, '3']);
    }
    // the stream configs the job applies are the services' own, at R3 (both copies: compose and Kubernetes)
    const expected = Object.fromEntries(
      jobStreamConfigs().map((c) => [`${c.name}.json`, JSON.parse(JSON.stringify({ ...c, num_replicas: 3 }))]),
    );
    for (const dir of ['deploy/cluster/jetstream', 'deploy/k8s/base/jetstream']) {
      const files = readdirSync(path.join(REPO_ROOT, dir)).filter((f) => f.endsWith('.json'));
      const actual = Object.fromEntries(
        files.map((f) => [f, JSON.parse(readFileSync(path.join(REPO_ROOT, dir, f), 'utf8'))]),
      );
      expect([dir, actual]).toEqual([dir, expected]);
    }
    const script = readFileSync(path.join(REPO_ROOT, 'deploy/cluster/jetstream-init.sh'), 'utf8');
    expect(readFileSync(path.join(REPO_ROOT, 'deploy/k8s/base/jetstream/jetstream-init.sh'), 'utf8')).toBe(script);
    expect(script).toContain('nats kv add "$leases" --history 64 --storage file --replicas "$replicas"');
    expect(script).toContain('nats object add "$artifacts" --storage file --replicas "$replicas"');
    expect(script).toMatch(/^replicas=3$/m);
  });

  it('runs two replicas of every service, each with a health check and a data dir of its own (no shared data volume)', () => {
    const owners = new Map<string, string[]>();
    for (const [name, s] of Object.entries(services))
      for (const v of mounts(s)) if (v.named) owners.set(v.source, [...(owners.get(v.source) ?? []), name]);
    for (const base of REPLICATED) {
      const replicas = Object.keys(services).filter((n) => n.startsWith(`${base}-`) && /-\d+$/.test(n));
      expect([base, replicas.length]).toEqual([base, 2]);
      for (const r of replicas) {
        expect([r, services[r].healthcheck !== undefined]).toEqual([r, true]);
        const data = mounts(services[r]).find((v) => v.target === '/var/lib/cvp');
        // A native core reads, read-only, the models its own inference replica fetched into its cache.
        const pair = base === 'native-core' || base === 'inference' ? ['inference', 'native-core'] : null;
        const users = pair ? pair.map((b) => r.replace(base, b)) : [r];
        expect([r, data && [...(owners.get(data.source) ?? [])].sort()]).toEqual([r, users]);
        expect([r, services[r].environment?.CVP_ARTIFACTS ?? 'objectstore']).toEqual([r, 'objectstore']);
      }
    }
    // Artifacts move through the object store: no volume is mounted by two services' replicas.
    for (const [volume, users] of owners)
      if (!volume.startsWith('inference-')) expect([volume, users.length]).toEqual([volume, 1]);
    for (const [name, s] of Object.entries(services))
      if (name !== 'jetstream-init') expect([name, s.healthcheck !== undefined]).toEqual([name, true]);
    expect(readFileSync(path.join(REPO_ROOT, 'deploy/Dockerfile.service'), 'utf8')).toMatch(
      /chown 10001:10001 [^\n]*\/var\/lib\/cvp-local/,
    );
  });

  it('publishes only the balancer, which health-checks every gateway and inference replica', () => {
    for (const [name, s] of Object.entries(services))
      expect([name, (s.ports ?? []).length > 0]).toEqual([name, name === 'balancer']);
    const cfg = readFileSync(path.join(REPO_ROOT, 'deploy/cluster/haproxy.cfg'), 'utf8');
    expect(cfg).toContain('option httpchk GET /health/ready');
    // Any gateway verifies any stream token and serves any job's SSE stream: no affinity needed
    expect(cfg).toMatch(/backend gateways\n(?:\s*#[^\n]*\n)*\s*balance leastconn\n/);
    expect(cfg).toContain('option httpchk GET /v2/health/ready');
    for (const r of Object.keys(services).filter((n) => /^(gateway|inference)-\d+$/.test(n)))
      expect(cfg).toContain(`server ${r} ${r}:${r.startsWith('gateway') ? 3000 : 8000}`);
    expect(services.balancer.healthcheck).toBeDefined();
  });

  it('gives the JWT secret, the admin password and the database URL to the gateways only; inference requires credentials', () => {
    for (const [name, s] of Object.entries(services)) {
      const env = s.environment ?? {};
      const secretKeys = Object.keys(env).filter((k) =>
        ['CVP_JWT_SECRET', 'CVP_ADMIN_PASSWORD', 'CVP_DB_URL'].includes(k),
      );
      const pgPassword = Object.values(env).some((v) => v?.includes(SECRETS.CVP_POSTGRES_PASSWORD));
      if (name.startsWith('gateway-')) {
        expect(env.CVP_JWT_SECRET).toBe(SECRETS.CVP_JWT_SECRET);
        expect(env.CVP_DB_URL).toBe(`postgres://cvp:${SECRETS.CVP_POSTGRES_PASSWORD}@postgres:5432/cvp`);
      } else {
        expect([name, secretKeys]).toEqual([name, []]);
        expect([name, pgPassword]).toEqual([name, name === 'postgres']);
      }
      if (name.startsWith('inference-')) expect(env.CVP_INFER_AUTH).toBe('required');
    }
    // GPU lease clients on one host count against one pool, whatever their container's host name
    const nodes = Object.entries(services)
      .filter(([n]) => /^(inference|bench|trainer-bridge)-\d+$/.test(n))
      .map(([, s]) => s.environment?.CVP_GPU_NODE);
    expect(nodes).toHaveLength(6);
    expect(new Set(nodes)).toEqual(new Set(['gpu-node-1']));
  });
});
