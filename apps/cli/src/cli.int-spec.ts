import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CvpClient, tokenAuth } from '@cvp/sdk';
import sharp from 'sharp';
import { startCompiledGateway } from '../../../scripts/lib/gateway-process';
import { freePort } from '../../../scripts/lib/ports';
import { tinyIdentityOnnx } from '@cvp/measure/testing';
import { EXIT } from './output/exit-codes';
import { DashboardPoller } from './tui/dashboard-data';
import { inferenceUrlFor } from './tui/tui.command';
import { runCli, scratchConfigDir } from './testing/run-cli';

type Gateway = Awaited<ReturnType<typeof startCompiledGateway>>;

/** A YOLO zip whose one label line has a class out of range and another unnormalised coordinates. */
async function badYoloZip(dir: string): Promise<string> {
  const root = path.join(dir, 'bad-yolo');
  mkdirSync(path.join(root, 'images/train'), { recursive: true });
  mkdirSync(path.join(root, 'labels/train'), { recursive: true });
  writeFileSync(path.join(root, 'data.yaml'), 'names:\n  0: cell\n');
  await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } })
    .png()
    .toFile(path.join(root, 'images/train/a.png'));
  writeFileSync(path.join(root, 'labels/train/a.txt'), '3 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n');
  const zip = path.join(dir, 'bad-yolo.zip');
  const r = spawnSync(
    'python3',
    ['-c', 'import shutil,sys; shutil.make_archive(sys.argv[1][:-4], "zip", sys.argv[2])', zip, root],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`zip failed: ${r.stderr}`);
  return zip;
}

describe('cvp against the compiled gateway (its own process, real NATS and SQLite)', () => {
  let gw: Gateway;
  let env: Record<string, string>;
  const dir = () => process.env.CVP_TEST_DIR!;
  const cvp = (argv: string[], extra: { env?: Record<string, string | undefined>; stdin?: string } = {}) =>
    runCli(argv, { env: { ...env, ...extra.env }, stdin: extra.stdin, cwd: dir() });

  beforeAll(async () => {
    gw = await startCompiledGateway({
      natsUrl: process.env.CVP_NATS_URL!,
      env: { CVP_MODEL_UPLOAD_MAX_BYTES: '65536' },
    });
    env = { CVP_URL: gw.origin, CVP_CONFIG_DIR: scratchConfigDir('int') };
    writeFileSync(path.join(dir(), 'tiny.onnx'), tinyIdentityOnnx(['batch', 3, 8, 8]));
  });
  afterAll(() => gw?.stop());

  it('login: a wrong password exits 3 with the problem and a hint; the right one keeps a 0600 session', async () => {
    const bad = await cvp(['login', '-u', 'admin', '--password-stdin'], { stdin: 'wrong\n' });
    expect(bad.code).toBe(EXIT.auth);
    expect(bad.stderr).toMatch(/error: Unauthorized \(401\): invalid username or password/);
    expect(bad.stderr).toMatch(/→ check the username and password/);
    const badJson = await cvp(['login', '-u', 'admin', '--password-stdin', '--json'], { stdin: 'wrong\n' });
    expect(badJson.error()).toMatchObject({ exitCode: 3, status: 401, title: 'Unauthorized' });

    const ok = await cvp(['login', '-u', 'admin', '--password-stdin', '--json'], { stdin: `${gw.adminPassword}\n` });
    expect(ok.code).toBe(EXIT.ok);
    const out = ok.json<{ sessionFile: string; role: string; url: string }>();
    expect(out).toMatchObject({ role: 'admin', url: gw.origin });
    expect(statSync(out.sessionFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(out.sessionFile)).mode & 0o777).toBe(0o700);
    const me = await cvp(['whoami', '--json']);
    expect(me.json()).toMatchObject({ name: 'admin', role: 'admin', source: 'session' });
    // Plain output for people: no colour when stdout is not a terminal.
    const human = await cvp(['whoami']);
    expect(human.stdout).toMatch(/^name\s+admin$/m);
    expect(human.stdout).not.toContain('\x1b[');
  });

  it('models upload | list | show, jobs list | show | cancel, with stable --json', async () => {
    const up = await cvp(['models', 'upload', 'tiny.onnx', '--task', 'classify', '--json']);
    expect(up.code).toBe(EXIT.ok);
    const accepted = up.json<{ model: { id: string; name: string }; job: { id: string } }>();
    expect(accepted.model.name).toBe('tiny');
    const list = (await cvp(['models', 'list', '--json'])).json<{ items: { id: string }[]; total: number }>();
    expect(list.items.map((m) => m.id)).toContain(accepted.model.id);
    const table = await cvp(['models']);
    expect(table.stdout).toMatch(new RegExp(`^${accepted.model.id}\\s+tiny\\s+classify\\s+onnx`, 'm'));
    expect((await cvp(['models', 'show', accepted.model.id, '--json'])).json()).toMatchObject({
      id: accepted.model.id,
      task: 'classify',
    });

    const jobs = (await cvp(['jobs', 'list', '--type', 'convert', '--json'])).json<{ items: { id: string }[] }>();
    expect(jobs.items.map((j) => j.id)).toContain(accepted.job.id);
    expect((await cvp(['jobs', 'show', accepted.job.id])).stdout).toMatch(/^state\s+queued$/m);
    const cancelled = await cvp(['jobs', 'cancel', accepted.job.id, '--json']);
    expect(cancelled.json()).toMatchObject({ id: accepted.job.id, state: 'cancelled' });
    const again = await cvp(['jobs', 'cancel', accepted.job.id]);
    expect(again.code).toBe(EXIT.conflict);
    expect(again.stderr).toMatch(/Conflict \(409\): job .* already cancelled/);
  });

  it('--watch follows a job and exits 11 when it is cancelled meanwhile; jobs events prints JSON lines', async () => {
    const started = await cvp([
      'bench',
      '--model',
      'm-none',
      '--max-p95-ms',
      '50',
      '--max-accuracy-drop',
      '0.02',
      '--json',
    ]);
    const job = started.json<{ id: string; input: { constraints: object } }>();
    expect(job.input.constraints).toEqual({ maxP95Ms: 50, maxAccuracyDrop: 0.02 });
    const admin = new CvpClient({
      url: gw.origin,
      auth: tokenAuth((await new CvpClient({ url: gw.origin }).auth.login('admin', gw.adminPassword)).accessToken),
    });
    const watching = cvp(['jobs', 'watch', job.id]);
    await new Promise((r) => setTimeout(r, 500));
    await admin.jobs.cancel(job.id);
    const w = await watching;
    expect(w.code).toBe(EXIT.jobCancelled);
    expect(w.stderr).toMatch(new RegExp(`\\[bench ${job.id.slice(0, 8)}\\] +queued`));
    expect(w.stdout).toMatch(new RegExp(`bench ${job.id} cancelled`));

    const events = await cvp(['jobs', 'events', job.id]);
    const lines = events.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { state?: string });
    expect(lines.map((e) => e.state)).toEqual(['queued', 'cancelled']);
    expect(events.code).toBe(EXIT.jobCancelled);
  });

  it('exit codes: 413 upload, a rejected data set with its report table, 409 deploy, 404, usage errors', async () => {
    writeFileSync(path.join(dir(), 'big.onnx'), Buffer.alloc(70_000, 1));
    const big = await cvp(['models', 'upload', 'big.onnx', '--task', 'detect', '--json']);
    expect(big.code).toBe(EXIT.rejected);
    expect(big.error()).toMatchObject({ status: 413, title: 'Payload Too Large' });

    const zip = await badYoloZip(dir());
    const ds = await cvp(['datasets', 'upload', zip, '--format', 'yolo']);
    expect(ds.code).toBe(EXIT.rejected);
    expect(ds.stdout).toMatch(/^LEVEL\s+FILE\s+LINE\s+MESSAGE/m);
    expect(ds.stdout).toMatch(/^problem\s+\S*labels\/train\/a\.txt\s+1\s+class id 3 out of range/m);
    expect(ds.stdout).toMatch(/✖ rejected: 2 problem/);
    expect(ds.stderr).toMatch(/Unprocessable Content \(422\)/);
    expect((await cvp(['datasets', 'list', '--valid', 'false', '--json'])).json<{ total: number }>().total).toBe(1);

    const models = (await cvp(['models', 'list', '--json'])).json<{ items: { id: string }[] }>();
    const dep = await cvp(['deploy', '--model', models.items[0].id, '--json']);
    expect(dep.code).toBe(EXIT.conflict);
    expect(dep.error().hint).toMatch(/cvp bench --model/);

    expect((await cvp(['jobs', 'show', '00000000-0000-4000-8000-000000000000'])).code).toBe(EXIT.notFound);
    const usage = await cvp(['bench', '--model', 'x', '--max-p95-ms', 'fast', '--json']);
    expect(usage.code).toBe(EXIT.usage);
    expect(usage.error()).toMatchObject({ exitCode: 2, title: 'Invalid usage' });
    expect((await cvp(['frobnicate'])).code).toBe(EXIT.usage);
    expect((await cvp(['package', '--model', 'x', '--download', 'out'])).code).toBe(EXIT.usage);
  });

  it('admin commands; a viewer is refused with 403 (exit 4); an API key works through CVP_TOKEN', async () => {
    const created = await cvp(['users', 'create', 'cli-viewer', '--role', 'viewer', '--password-stdin', '--json'], {
      stdin: 'viewer-pass-1\n',
    });
    const viewerId = created.json<{ id: string }>().id;
    expect(
      (await cvp(['users', '--json'])).json<{ items: { username: string }[] }>().items.map((u) => u.username),
    ).toContain('cli-viewer');
    const viewerEnv = { CVP_CONFIG_DIR: scratchConfigDir('viewer') };
    expect(
      (await cvp(['login', '-u', 'cli-viewer', '--password-stdin'], { env: viewerEnv, stdin: 'viewer-pass-1' })).code,
    ).toBe(0);
    const refused = await cvp(['models', 'upload', 'tiny.onnx', '--task', 'detect'], { env: viewerEnv });
    expect(refused.code).toBe(EXIT.forbidden);
    expect(refused.stderr).toMatch(/Forbidden \(403\): role viewer may not do this/);
    expect((await cvp(['leases', '--json'], { env: viewerEnv })).json()).toMatchObject({ tokens: 2, inUse: 0 });

    const updated = await cvp(['users', 'update', viewerId, '--role', 'engineer', '--json']);
    expect(updated.json()).toMatchObject({ role: 'engineer' });

    const key = (await cvp(['api-keys', 'create', 'cli-key', '--json'])).json<{ id: string; key: string }>();
    const withKey = { CVP_TOKEN: key.key, CVP_CONFIG_DIR: scratchConfigDir('key') };
    expect((await cvp(['whoami', '--json'], { env: withKey })).json()).toMatchObject({
      kind: 'apiKey',
      role: 'infer',
      source: 'token',
    });
    expect((await cvp(['models', '--json'], { env: withKey })).code).toBe(EXIT.forbidden);
    expect((await cvp(['api-keys', 'revoke', key.id, '--json'])).json<{ revokedAt: string }>().revokedAt).toBeTruthy();
    expect((await cvp(['whoami'], { env: withKey })).code).toBe(EXIT.auth);

    for (const list of [['deployments'], ['benchmarks'], ['packages'], ['api-keys']])
      expect((await cvp([...list, '--json'])).code).toBe(EXIT.ok);
    expect((await cvp(['users', 'delete', viewerId])).code).toBe(EXIT.usage); // not confirmed, no terminal
    expect((await cvp(['users', 'delete', viewerId, '--yes'])).code).toBe(EXIT.ok);
  });

  it('starts train, tune and package jobs with their inputs; names what is missing for deploy, infer and downloads', async () => {
    const train = await cvp([
      'train',
      '--model',
      'm1',
      '--dataset',
      'd1',
      '--epochs',
      '2',
      '--imgsz',
      '64',
      '--batch',
      '2',
      '--json',
    ]);
    expect(train.json()).toMatchObject({
      type: 'train',
      state: 'queued',
      input: { modelId: 'm1', epochs: 2, imgsz: 64, device: 'cpu' },
    });
    const tune = await cvp([
      'tune',
      '--model',
      'm1',
      '--dataset',
      'd1',
      '--strategy',
      'nsga2',
      '--trials',
      '3',
      '--space',
      '{"lr0":[0.001,0.01]}',
    ]);
    expect(tune.code).toBe(EXIT.ok);
    expect(tune.stdout).toMatch(/^tune job \S+ queued$/m);
    expect((await cvp(['tune', '--model', 'm', '--dataset', 'd', '--strategy', 'grid', '--trials', '1'])).code).toBe(
      EXIT.usage,
    );
    expect(
      (await cvp(['tune', '--model', 'm', '--dataset', 'd', '--strategy', 'ga', '--trials', '1', '--space', '{no']))
        .code,
    ).toBe(EXIT.usage);
    const pkg = await cvp(['package', '--model', 'm1', '--engine', 'ort-node', '--json']);
    expect(pkg.json()).toMatchObject({ type: 'package', input: { engine: 'ort-node', variant: 'cpu' } });
    const bad = await cvp([
      'train',
      '--model',
      'm1',
      '--dataset',
      'd1',
      '--epochs',
      '2',
      '--imgsz',
      '65',
      '--batch',
      '2',
    ]);
    expect(bad.code).toBe(EXIT.rejected);
    expect(bad.stderr).toMatch(/- imgsz: /);

    const preset = (
      await cvp(['models', 'preset', 'resnet50', '--name', 'r50', '--labels', 'cat,dog', '--json'])
    ).json<{
      model: { id: string };
      note: string;
    }>();
    expect(preset.note).toMatch(/UNTRAINED/);
    expect((await cvp(['deploy', '--model', '00000000-0000-4000-8000-000000000001', '--engine', 'native'])).code).toBe(
      EXIT.notFound,
    );
    const png = path.join(dir(), 'img.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } })
      .png()
      .toFile(png);
    const infer = await cvp(['infer', png, '--model', preset.model.id, '--conf', '0.5']);
    expect(infer.code).toBe(EXIT.notFound);
    expect(infer.stderr).toMatch(/no active deployment/);
    expect((await cvp(['infer', 'photo.gif', '--model', 'x'])).code).toBe(EXIT.usage);
    expect((await cvp(['models', 'delete', preset.model.id, '--yes', '--json'])).json()).toEqual({
      deleted: preset.model.id,
    });
    for (const argv of [
      ['benchmarks', 'show', 'nope'],
      ['benchmarks', 'report', 'nope'],
      ['packages', 'download', 'pkg-000000000000000000000000', '-o', dir()],
      ['deployments', 'show', 'dep-nope'],
      ['leases', 'release', 'lease-nope'],
    ])
      expect({ argv, code: (await cvp(argv)).code }).toEqual({ argv, code: EXIT.notFound });
  });

  it('the dashboard poller reads every panel; an unreachable data plane is named, the rest still shows', async () => {
    const pair = await new CvpClient({ url: gw.origin }).auth.login('admin', gw.adminPassword);
    const client = new CvpClient({ url: gw.origin, auth: tokenAuth(pair.accessToken), timeoutMs: 5000 });
    const poller = new DashboardPoller(client, inferenceUrlFor(gw.origin, `http://127.0.0.1:${await freePort()}`));
    const d = await poller.poll();
    expect(d.jobs.length).toBeGreaterThan(0);
    expect(d.jobs[0].state === 'queued' || d.jobs.every((j) => j.state !== 'queued')).toBe(true);
    expect(d.leases).toMatchObject({ tokens: 2 });
    expect(d.models.length).toBeGreaterThan(0);
    expect(d.errors).toEqual([expect.stringMatching(/^metrics: /)]);
  });

  it('logout forgets the session: the next call asks to log in (exit 3); a session is never sent to another gateway', async () => {
    const other = await cvp(['whoami'], { env: { CVP_URL: 'http://127.0.0.1:9' } });
    expect(other.code).toBe(EXIT.auth);
    expect(other.stderr).toMatch(/Not logged in/);
    expect((await cvp(['logout', '--json'])).json()).toMatchObject({ loggedOut: true });
    const after = await cvp(['models', '--json']);
    expect(after.code).toBe(EXIT.auth);
    expect(after.error().hint).toMatch(/cvp login/);
    const down = await cvp(['login', '-u', 'a', '--password-stdin'], {
      env: { CVP_URL: 'http://127.0.0.1:1' },
      stdin: 'x',
    });
    expect(down.code).toBe(EXIT.unreachable);
  });
});
