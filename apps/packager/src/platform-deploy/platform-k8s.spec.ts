import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, scratchDir } from '../testing/fixtures';

/**
 * deploy/k8s rendered with Kustomize and checked offline (no cluster here): schema validation by
 * kubernetes-validate (PyPI; the Kubernetes OpenAPI schemas of each release, strict: unknown fields
 * are errors), then what the schemas cannot say (probes on the health routes, budgets, secrets).
 */

// The version scripts/bootstrap.sh builds from the Go module proxy; read from there so they cannot drift.
const KUSTOMIZE_VERSION = readFileSync(path.join(REPO_ROOT, 'scripts/bootstrap.sh'), 'utf8').match(
  /^kustomize_version=(\S+)$/m,
)![1];
const TOOLS_VENV = path.join(
  os.homedir(),
  '.cache/cvp',
  `tools-${createHash('sha256')
    .update(readFileSync(path.join(REPO_ROOT, 'python/requirements-tools.txt')))
    .digest('hex')
    .slice(0, 16)}`,
);
// The oldest release with every field used (appArmorProfile: 1.30) and the newest the validator knows.
const K8S_VERSIONS = ['1.30.0', '1.37.0'];

function kustomizeCommand(): string[] {
  const built = path.join(os.homedir(), `.cache/cvp/bin/kustomize-${KUSTOMIZE_VERSION}`);
  if (existsSync(built)) return [built, 'build'];
  if (spawnSync('kubectl', ['version', '--client'], { timeout: 30_000 }).status === 0) return ['kubectl', 'kustomize'];
  throw new Error(
    `no Kustomize: scripts/bootstrap.sh builds ${built} from the Go module proxy (needs Go), or install kubectl`,
  );
}

function render(dir: string): string {
  const [bin, ...args] = kustomizeCommand();
  const r = spawnSync(bin, [...args, path.join(REPO_ROOT, dir)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kustomize build ${dir} failed: ${r.stderr}`);
  return r.stdout;
}

type Resource = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: any;
  data?: any;
};

function parse(yaml: string): Resource[] {
  const r = spawnSync(
    'python3',
    ['-c', 'import sys, yaml, json; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)'],
    { input: yaml, encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) throw new Error(`yaml -> json failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function validate(yaml: string, version: string): { ok: boolean; output: string } {
  const bin = path.join(TOOLS_VENV, 'bin/kubernetes-validate');
  if (!existsSync(bin))
    throw new Error(
      `kubernetes-validate missing at ${bin}: scripts/bootstrap.sh installs python/requirements-tools.txt`,
    );
  const dir = scratchDir('k8s-validate');
  try {
    const file = path.join(dir, 'rendered.yaml');
    writeFileSync(file, yaml);
    const r = spawnSync(bin, ['--strict', '--quiet', '-k', version, file], { encoding: 'utf8', timeout: 60_000 });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const workloads = (rs: Resource[]) => rs.filter((r) => ['Deployment', 'StatefulSet'].includes(r.kind));
const labelsOf = (w: Resource) => w.spec.template.metadata.labels as Record<string, string>;
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('Kubernetes manifests (Kustomize + kubernetes-validate --strict, offline)', () => {
  const rendered: Record<string, string> = {};
  const resources: Record<string, Resource[]> = {};
  beforeAll(() => {
    for (const dir of ['deploy/k8s/base', 'deploy/k8s/overlays/production']) {
      rendered[dir] = render(dir);
      resources[dir] = parse(rendered[dir]);
    }
  }, 60_000);

  it.each(['deploy/k8s/base', 'deploy/k8s/overlays/production'])(
    '%s renders and passes strict schema validation for Kubernetes 1.30 and 1.37',
    (dir) => {
      for (const v of K8S_VERSIONS) {
        const r = validate(rendered[dir], v);
        expect([dir, v, r.ok, r.output]).toEqual([dir, v, true, '']);
      }
    },
    120_000,
  );

  it('the validator rejects a manifest with a misspelt field or a wrong type (so a pass means something)', () => {
    const broken = [
      rendered['deploy/k8s/base'].replace('periodSeconds: 15', 'periodSecond: 15'),
      rendered['deploy/k8s/base'].replace('replicas: 3', 'replicas: three'),
    ];
    for (const b of broken) {
      expect(b).not.toBe(rendered['deploy/k8s/base']);
      const r = validate(b, '1.30.0');
      expect(r.ok).toBe(false);
      expect(r.output).toMatch(/did not validate/);
    }
  }, 120_000);

  it('every container has readiness and liveness probes on its health route, and resource requests and limits', () => {
    const routes: Record<string, [string, string]> = {
      gateway: ['/health/ready', '/health/live'],
      'trainer-bridge': ['/health/ready', '/health/live'],
      bench: ['/health/ready', '/health/live'],
      packager: ['/health/ready', '/health/live'],
      inference: ['/v2/health/ready', '/v2/health/live'],
      nats: ['/healthz?js-enabled-only=true', '/healthz?js-enabled-only=true'],
    };
    const seen: string[] = [];
    for (const w of workloads(resources['deploy/k8s/base'])) {
      for (const c of w.spec.template.spec.containers) {
        seen.push(c.name);
        expect([c.name, c.readinessProbe !== undefined, c.livenessProbe !== undefined]).toEqual([c.name, true, true]);
        if (c.name === 'native-core') {
          // loopback-only gRPC: probed from inside the pod
          expect(c.args).toEqual(expect.arrayContaining(['--host', '127.0.0.1']));
          expect(c.readinessProbe.exec.command.join(' ')).toContain('/dev/tcp/127.0.0.1/8001');
        } else {
          expect([c.name, c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path]).toEqual([
            c.name,
            ...routes[c.name],
          ]);
        }
        for (const k of ['requests', 'limits'])
          expect([c.name, k, Object.keys(c.resources?.[k] ?? {}).sort()]).toEqual([c.name, k, ['cpu', 'memory']]);
      }
    }
    expect(seen.sort()).toEqual(
      ['bench', 'gateway', 'inference', 'native-core', 'native-core', 'nats', 'packager', 'trainer-bridge'].sort(),
    );
  });

  it('runs at least two replicas of every service, each covered by a PodDisruptionBudget', () => {
    const rs = resources['deploy/k8s/base'];
    const pdbs = rs.filter((r) => r.kind === 'PodDisruptionBudget');
    for (const w of workloads(rs)) {
      expect([w.metadata.name, w.spec.replicas >= 2]).toEqual([w.metadata.name, true]);
      const covering = pdbs.filter((p) => selects(p.spec.selector.matchLabels, labelsOf(w)));
      expect([w.metadata.name, covering.length]).toEqual([w.metadata.name, 1]);
      const pdb = covering[0].spec;
      // a budget must leave room for one voluntary eviction, or drains block forever
      expect([w.metadata.name, pdb.maxUnavailable === 1 || pdb.minAvailable < w.spec.replicas]).toEqual([
        w.metadata.name,
        true,
      ]);
    }
  });

  it('runs NATS as a 3-pod StatefulSet with a headless Service, its own volumes, routes to every pod, and R3 JetStream', () => {
    const rs = resources['deploy/k8s/base'];
    const sts = rs.find((r) => r.kind === 'StatefulSet' && r.metadata.name === 'nats')!;
    expect(sts.spec.replicas).toBe(3);
    const headless = rs.find((r) => r.kind === 'Service' && r.metadata.name === sts.spec.serviceName)!;
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(sts.spec.volumeClaimTemplates[0].spec.accessModes).toEqual(['ReadWriteOnce']);
    const conf: string = rs.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'nats-config')!.data['nats.conf'];
    for (let i = 0; i < 3; i++) expect(conf).toContain(`nats://nats-${i}.${headless.metadata.name}:6222`);
    expect(conf).toMatch(/jetstream \{/);
    expect(conf).toContain('server_name: $POD_NAME');
    // the server itself parses it (Debian's nats-server, `-t`: check the configuration and exit)
    const dir = scratchDir('nats-conf');
    try {
      writeFileSync(path.join(dir, 'nats.conf'), conf);
      const t = spawnSync('nats-server', ['-c', path.join(dir, 'nats.conf'), '-t'], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, POD_NAME: 'nats-0' },
      });
      expect([t.status, t.stderr.trim()]).toEqual([0, expect.stringMatching(/ is valid$/)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const init = rs.find((r) => r.kind === 'ConfigMap' && r.metadata.name.startsWith('cvp-jetstream-init'))!;
    const streams = Object.entries(init.data as Record<string, string>).filter(([k]) => k.endsWith('.json'));
    expect(streams.length).toBeGreaterThanOrEqual(7);
    for (const [k, v] of streams) expect([k, JSON.parse(v).num_replicas]).toEqual([k, 3]);
    const job = rs.find((r) => r.kind === 'Job')!;
    expect(job.spec.template.spec.volumes[0].configMap.name).toBe(init.metadata.name); // the hashed name
    const common = rs.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'cvp-common')!;
    expect(common.data.CVP_NATS_URL).toBe('nats://nats:4222');
    expect(common.data.CVP_ARTIFACTS_REPLICAS).toBe('3');
  });

  it('gives secrets to the gateway only (JWT secret, admin password, PostgreSQL URL); inference requires credentials; no Service reaches a native core', () => {
    const rs = resources['deploy/k8s/base'];
    const secretRefs: [string, string][] = [];
    for (const w of [...workloads(rs), ...rs.filter((r) => r.kind === 'Job')])
      for (const c of w.spec.template.spec.containers) {
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef) secretRefs.push([c.name, `${e.name}=${e.valueFrom.secretKeyRef.key}`]);
        expect([c.name, (c.envFrom ?? []).some((f: { secretRef?: unknown }) => f.secretRef)]).toEqual([c.name, false]);
        if (c.name === 'inference')
          expect(c.env.find((e: { name: string }) => e.name === 'CVP_INFER_AUTH').value).toBe('required');
        // GPU lease clients count against their machine's pool (the pod's node, not its host name)
        if (['inference', 'bench', 'trainer-bridge'].includes(c.name))
          expect([c.name, c.env.find((e: { name: string }) => e.name === 'CVP_GPU_NODE')?.valueFrom]).toEqual([
            c.name,
            { fieldRef: { fieldPath: 'spec.nodeName' } },
          ]);
      }
    expect(secretRefs.sort()).toEqual([
      ['gateway', 'CVP_ADMIN_PASSWORD=admin-password'],
      ['gateway', 'CVP_DB_URL=db-url'],
      ['gateway', 'CVP_JWT_SECRET=jwt-secret'],
    ]);
    // Any gateway verifies any stream token and serves any job's SSE stream: no affinity needed
    expect(rs.find((r) => r.kind === 'Service' && r.metadata.name === 'gateway')!.spec.sessionAffinity).toBeUndefined();
    expect(rs.filter((r) => r.kind === 'Secret')).toEqual([]); // created by the operator, never committed
    for (const s of rs.filter((r) => r.kind === 'Service'))
      for (const p of s.spec.ports) expect([s.metadata.name, p.port]).not.toEqual([s.metadata.name, 8001]);
  });

  it('the production overlay puts everything in its namespace, pins images and scales the front', () => {
    const rs = resources['deploy/k8s/overlays/production'];
    for (const r of rs.filter((x) => x.kind !== 'Namespace'))
      expect([r.kind, r.metadata.name, r.metadata.namespace]).toEqual([r.kind, r.metadata.name, 'cvp']);
    const byName = (n: string) => rs.find((r) => r.kind === 'Deployment' && r.metadata.name === n)!;
    expect(byName('gateway').spec.replicas).toBe(3);
    expect(byName('inference').spec.replicas).toBe(3);
    for (const w of workloads(rs))
      for (const c of w.spec.template.spec.containers)
        expect([c.name, /:[\w.-]+$/.test(c.image) && !c.image.endsWith(':dev')]).toEqual([c.name, true]);
    expect(rs.filter((r) => r.kind === 'NetworkPolicy').length).toBeGreaterThanOrEqual(1);
  });
});
