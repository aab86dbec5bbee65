import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection, StorageType } from 'nats';
import { ensureJobStreams, jobStreamConfigs } from '@cvp/jobs';
import { freePort, waitFor } from '../../../../scripts/lib/ports';
import { REPO_ROOT, scratchDir } from '../testing/fixtures';

// The nats CLI scripts/bootstrap.sh builds from the Go module proxy (version read from there).
const NATSCLI_VERSION = readFileSync(path.join(REPO_ROOT, 'scripts/bootstrap.sh'), 'utf8').match(
  /^natscli_version=(\S+)$/m,
)![1];
const NATSCLI = path.join(os.homedir(), `.cache/cvp/bin/natscli-${NATSCLI_VERSION}`);
const SCRIPT = path.join(REPO_ROOT, 'deploy/cluster/jetstream-init.sh');

/**
 * deploy/cluster/jetstream-init.sh (the compose file's and the Kubernetes Job's JetStream set-up)
 * run for real against three clustered nats-servers (Debian's), with the nats CLI.
 */
describe('JetStream init against a 3-node nats-server cluster (real servers, real nats CLI)', () => {
  let dir: string;
  const servers: ChildProcess[] = [];
  let url: string;
  let nc: NatsConnection;

  beforeAll(async () => {
    if (!existsSync(NATSCLI))
      throw new Error(`the nats CLI is missing at ${NATSCLI}: scripts/bootstrap.sh builds it (needs Go)`);
    dir = scratchDir('jetstream-init');
    const client = [await freePort(), await freePort(), await freePort()];
    const route = [await freePort(), await freePort(), await freePort()];
    for (let i = 0; i < 3; i++) {
      const conf = path.join(dir, `n${i}.conf`);
      writeFileSync(
        conf,
        [
          `listen: 127.0.0.1:${client[i]}`,
          `server_name: n${i}`,
          `jetstream { store_dir: "${path.join(dir, `js${i}`)}" }`,
          `cluster { name: cvp, listen: "127.0.0.1:${route[i]}", routes: [${route.map((p) => `"nats://127.0.0.1:${p}"`).join(', ')}] }`,
        ].join('\n'),
      );
      servers.push(spawn('nats-server', ['-c', conf], { stdio: 'ignore', detached: true }));
    }
    url = `nats://127.0.0.1:${client[0]}`;
    nc = await connect({ servers: url, maxReconnectAttempts: -1, waitOnFirstConnect: true });
    // the cluster elects its JetStream meta leader a few seconds after the routes are up
    await waitFor(
      () =>
        nc
          .jetstreamManager()
          .then((jsm) => jsm.getAccountInfo())
          .then(
            () => true,
            () => false,
          ),
      { timeoutMs: 30_000, what: 'JetStream meta leader' },
    );
    mkdirSync(path.join(dir, 'bin'));
    symlinkSync(NATSCLI, path.join(dir, 'bin/nats'));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    for (const s of servers) {
      try {
        process.kill(-s.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const runInit = () =>
    spawnSync('sh', [SCRIPT], {
      encoding: 'utf8',
      timeout: 150_000,
      env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, NATS_URL: url },
    });

  const replicas = async () => {
    const jsm = await nc.jetstreamManager();
    const names = [...jobStreamConfigs().map((c) => c.name!), 'KV_CVP_GPU_LEASES', 'OBJ_cvp-artifacts'];
    return Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, (await jsm.streams.info(n)).config.num_replicas] as const)),
    );
  };

  it('raises what the services made at R1 to R3, creates what is missing at R3, and is idempotent', async () => {
    // what the services do at start-up when nothing exists: every stream and bucket at one replica
    const jsm = await nc.jetstreamManager();
    await ensureJobStreams(jsm);
    await nc.jetstream().views.kv('CVP_GPU_LEASES', { history: 64, storage: StorageType.File });
    await nc.jetstream().views.os('cvp-artifacts', { storage: StorageType.File });
    expect(new Set(Object.values(await replicas()))).toEqual(new Set([1]));
    await jsm.streams.delete('CVP_JOBS_TUNE'); // and one the init job must create itself

    const first = runInit();
    expect([first.status, first.stderr]).toEqual([0, '']);
    expect(first.stdout).toContain('kv CVP_GPU_LEASES: R3');
    const after = await replicas();
    for (const [name, r] of Object.entries(after)) expect([name, r]).toEqual([name, 3]);

    // the job streams keep the services' own settings
    for (const c of jobStreamConfigs()) {
      const cfg = (await jsm.streams.info(c.name!)).config;
      expect([c.name, cfg.subjects, cfg.retention, cfg.max_msgs, cfg.max_age, cfg.discard]).toEqual([
        c.name,
        c.subjects,
        c.retention,
        c.max_msgs,
        c.max_age,
        c.discard,
      ]);
    }
    expect((await jsm.streams.info('KV_CVP_GPU_LEASES')).config.max_msgs_per_subject).toBe(64);

    // again (every compose `up`): nothing changes; then the services start and leave R3 as it is
    const second = runInit();
    expect([second.status, second.stderr]).toEqual([0, '']);
    await ensureJobStreams(jsm);
    await nc.jetstream().views.kv('CVP_GPU_LEASES', { history: 64, storage: StorageType.File });
    expect(await replicas()).toEqual(after);
  }, 180_000);

  it('fails, bounded, when no JetStream answers', () => {
    const r = spawnSync('sh', ['-c', `sed 's/-ge 60/-ge 2/' '${SCRIPT}' | sh`], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, NATS_URL: 'nats://127.0.0.1:1' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('JetStream not available at nats://127.0.0.1:1');
  }, 60_000);
});
