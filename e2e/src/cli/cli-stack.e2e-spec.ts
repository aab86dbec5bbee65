import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tinyDetectorOnnx } from '@cvp/measure/testing';
import sharp from 'sharp';
import { ROOT } from '../support/processes';
import { runCvp } from './support/cvp';
import { SHORT_BENCH_ENV, type Stack, startStack } from './support/stack';
import { TmuxSession, tmuxAvailable } from './support/tmux';

/** Recordings of the terminal sessions go here; docs/ keeps a copy (docs/cli.md). */
const CASTS = path.join(ROOT, 'artifacts/cli');

/** A red square filling cell (row 2, col 3) of tinyDetectorOnnx's 8x8 grid: one class-0 ("red") box there. */
async function redCellPng(file: string): Promise<void> {
  const raw = Buffer.alloc(8 * 8 * 3);
  raw[(2 * 8 + 3) * 3] = 255;
  await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } })
    .png()
    .toFile(file);
}

/** A small valid YOLO detection set (train and val) for a short training run. */
async function yoloZip(dir: string): Promise<string> {
  const root = path.join(dir, 'cells');
  for (const split of ['train', 'val']) {
    mkdirSync(path.join(root, 'images', split), { recursive: true });
    mkdirSync(path.join(root, 'labels', split), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const name = `${split}${i}`;
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#202020' } })
        .composite([
          { input: { create: { width: 16, height: 16, channels: 3, background: '#e02020' } }, left: 8 * i, top: 16 },
        ])
        .png()
        .toFile(path.join(root, 'images', split, `${name}.png`));
      writeFileSync(path.join(root, 'labels', split, `${name}.txt`), `0 ${(8 * i + 8) / 64} 0.375 0.25 0.25\n`);
    }
  }
  writeFileSync(path.join(root, 'data.yaml'), 'train: images/train\nval: images/val\nnames:\n  0: red\n');
  const zip = path.join(dir, 'cells.zip');
  const r = spawnSync('python3', [
    '-c',
    'import shutil,sys; shutil.make_archive(sys.argv[1][:-4], "zip", sys.argv[2])',
    zip,
    root,
  ]);
  if (r.status !== 0) throw new Error(`zip failed: ${r.stderr}`);
  return zip;
}

/** Terminal tests need tmux (the bootstrap installs it); without it they are reported skipped, with why. */
const inTerminal = (name: string, fn: () => Promise<void>, timeoutMs: number) =>
  tmuxAvailable() ? it(name, fn, timeoutMs) : it.skip(`${name} [skipped: tmux is not installed]`, fn, timeoutMs);

describe('cvp and cvp tui against the running platform (supervisor: every service, NATS, SQLite, python, data plane)', () => {
  let stack: Stack;
  let work: string;
  let env: Record<string, string>;
  let viewerEnv: Record<string, string>;
  let modelId: string;
  let presetJob: string;
  let presetModel: string;
  const cvp = (args: string[], o: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {}) =>
    runCvp(args, { env: o.env ?? env, stdin: o.stdin, cwd: work, timeoutMs: o.timeoutMs });

  beforeAll(async () => {
    work = path.join(process.env.CVP_TEST_DIR!, 'cli-work');
    mkdirSync(work, { recursive: true });
    mkdirSync(CASTS, { recursive: true });
    stack = await startStack('cli-stack', {
      ...SHORT_BENCH_ENV(process.env.CVP_TEST_DIR!),
      CVP_MODEL_UPLOAD_MAX_BYTES: String(512 * 1024),
      CVP_LEASE_TTL_MS: '6000',
      CVP_TRAIN_THREADS: '1',
    });
    env = {
      // npm's own warnings (about this repository's .npmrc) stay out of the terminal recordings.
      npm_config_loglevel: 'error',
      CVP_URL: stack.gatewayUrl,
      CVP_INFERENCE_URL: stack.inferenceUrl,
      CVP_CONFIG_DIR: path.join(work, 'config-admin'),
    };
    viewerEnv = { ...env, CVP_CONFIG_DIR: path.join(work, 'config-viewer') };
    writeFileSync(path.join(work, 'cells.onnx'), tinyDetectorOnnx(8));
    writeFileSync(path.join(work, 'huge.onnx'), Buffer.alloc(600 * 1024, 7));
    await redCellPng(path.join(work, 'red.png'));
  }, 240_000);
  afterAll(() => stack?.stop(), 90_000);

  it('login: a wrong password exits 3 with the problem as JSON; the admin logs in; a viewer is created', async () => {
    const bad = await cvp(['login', '-u', 'admin', '--password-stdin', '--json'], { stdin: 'not-the-password\n' });
    expect(bad.code).toBe(3);
    expect(bad.error()).toMatchObject({
      exitCode: 3,
      status: 401,
      title: 'Unauthorized',
      detail: 'invalid username or password',
    });
    const ok = await cvp(['login', '-u', 'admin', '--password-stdin', '--json'], { stdin: `${stack.adminPassword}\n` });
    expect(ok.code).toBe(0);
    expect(ok.json()).toMatchObject({ username: 'admin', role: 'admin', url: stack.gatewayUrl });
    // The preset for the terminal test converts meanwhile (python), while the next tests run.
    const preset = await cvp(['models', 'preset', 'yolov8n', '--name', 'tui-yolo', '--labels', 'red', '--json']);
    expect(preset.code).toBe(0);
    ({
      job: { id: presetJob },
      model: { id: presetModel },
    } = preset.json<{ job: { id: string }; model: { id: string } }>());
    const viewer = await cvp(['users', 'create', 'e2e-viewer', '--role', 'viewer', '--password-stdin'], {
      stdin: 'viewer-pass-1',
    });
    expect(viewer.code).toBe(0);
    expect(
      (await cvp(['login', '-u', 'e2e-viewer', '--password-stdin'], { env: viewerEnv, stdin: 'viewer-pass-1' })).code,
    ).toBe(0);
  });

  it('upload a model and follow its conversion; a viewer is forbidden (exit 4); an oversized file is a 413 (exit 7)', async () => {
    const up = await cvp(
      ['models', 'upload', 'cells.onnx', '--task', 'detect', '--labels', 'red,green', '--watch', '--json'],
      {
        timeoutMs: 150_000,
      },
    );
    expect(up.code).toBe(0);
    const out = up.json<{ job: { state: string }; model: { id: string; inputs: { shape: number[] }[] } }>();
    expect(out.job.state).toBe('succeeded');
    expect(out.model.inputs[0].shape).toEqual([1, 3, 8, 8]);
    modelId = out.model.id;

    const forbidden = await cvp(['models', 'upload', 'cells.onnx', '--task', 'detect', '--json'], { env: viewerEnv });
    expect(forbidden.code).toBe(4);
    expect(forbidden.error()).toMatchObject({ status: 403, title: 'Forbidden', detail: 'role viewer may not do this' });
    const huge = await cvp(['models', 'upload', 'huge.onnx', '--task', 'detect', '--json']);
    expect(huge.code).toBe(7);
    expect(huge.error()).toMatchObject({ status: 413, title: 'Payload Too Large' });
  });

  it('bench with constraints (--watch --json): the 9 steps, an engine chosen, the verdict; exit 0', async () => {
    const b = await cvp(
      ['bench', '--model', modelId, '--max-p95-ms', '2000', '--max-accuracy-drop', '0.05', '--watch', '--json'],
      {
        timeoutMs: 300_000,
      },
    );
    expect({ code: b.code, stderr: b.stderr.slice(-2000) }).toEqual({ code: 0, stderr: '' });
    const out = b.json<{
      job: { state: string; input: { constraints: object }; result: { benchmarkId: string; status: string } };
      verdict: { status: string; chosen: string };
    }>();
    expect(out.job).toMatchObject({
      state: 'succeeded',
      input: { constraints: { maxP95Ms: 2000, maxAccuracyDrop: 0.05 } },
    });
    expect(out.job.result.status).toBe('selected');
    expect(out.verdict).toMatchObject({ status: 'selected', chosen: expect.any(String) });
    const list = (await cvp(['benchmarks', '--model', modelId, '--json'])).json<{ id: string }[]>();
    expect(list.map((x) => x.id)).toEqual([out.job.result.benchmarkId]);
  }, 330_000);

  inTerminal(
    'bench --watch in a real terminal (tmux): live progress, Ctrl-C asks first (Esc keeps watching), then the verdict and its chart (recorded)',
    async () => {
      const term = TmuxSession.start('bench', env, 110, 60, ROOT);
      try {
        term.send(
          `npx cvp bench --model ${modelId} --max-p95-ms 2000 --max-accuracy-drop 0.05 --watch; echo "exit=$?"`,
          'Enter',
        );
        await term.waitFor(/bench [0-9a-f]{8} {2}(queued|running)/, 60_000);
        term.send('C-c');
        await term.waitFor(/Cancel job [0-9a-f]{8}\?\s+y = cancel it\s+n = stop watching/, 10_000);
        term.send('Escape');
        const done = await term.waitFor(/^exit=\d+$/m, 240_000);
        expect(done).toMatch(/^exit=0$/m);
        expect(done).toMatch(/✔ bench \S+ succeeded/);
        expect(done).toMatch(/p95 per candidate/);
        expect(done).toMatch(/^★ \S+/m);
        term.writeCast(path.join(CASTS, 'cvp-bench-watch.cast'), 'cvp bench --watch: live progress, then the verdict');
      } finally {
        term.kill();
      }
    },
    300_000,
  );

  it("deploy bench's choice and infer an image: detections as JSON", async () => {
    const d = await cvp(['deploy', '--model', modelId, '--engine', 'selected', '--wait', '--json'], {
      timeoutMs: 150_000,
    });
    expect(d.code).toBe(0);
    expect(d.json()).toMatchObject({ modelId, state: 'ready', requestedEngine: 'selected' });
    const inf = await cvp(['infer', 'red.png', '--model', modelId, '--conf', '0.5', '--json']);
    expect(inf.code).toBe(0);
    const [first] = inf.json<{ image: string; result: { detections: { label: string; score: number }[] } }[]>();
    expect(first.image).toBe('red.png');
    expect(first.result.detections.map((x) => x.label)).toEqual(['red']);
    const human = await cvp(['infer', 'red.png', '--model', modelId, '--conf', '0.5']);
    expect(human.stdout).toMatch(/^red\s+1\.000\s+/m);
  }, 180_000);

  it('package and download: the tarball arrives with its SHA-256 checked', async () => {
    const dest = path.join(work, 'bundle');
    const p = await cvp(['package', '--model', modelId, '--watch', '--download', dest, '--json'], {
      timeoutMs: 240_000,
    });
    expect({ code: p.code, stderr: p.stderr.slice(-1000) }).toEqual({ code: 0, stderr: '' });
    const out = p.json<{
      job: { state: string };
      packageId: string;
      download: { file: string; sha256: string; sizeBytes: number };
    }>();
    expect(out.job.state).toBe('succeeded');
    expect(path.dirname(out.download.file)).toBe(dest);
    const bytes = readFileSync(out.download.file);
    expect(bytes.length).toBe(out.download.sizeBytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(out.download.sha256);
    expect((await cvp(['packages', '--json'])).json<{ id: string; sha256: string }[]>()).toEqual([
      expect.objectContaining({ id: out.packageId, sha256: out.download.sha256 }),
    ]);
  }, 270_000);

  inTerminal(
    'cvp tui in a real terminal (tmux): a training job appears and advances, its GPU lease shows, cancel works, the terminal is restored',
    async () => {
      const conv = await cvp(['jobs', 'watch', presetJob, '--json'], { timeoutMs: 240_000 });
      expect(conv.json()).toMatchObject({ state: 'succeeded' });
      const ds = await cvp(['datasets', 'upload', await yoloZip(work), '--format', 'yolo', '--json']);
      expect(ds.code).toBe(0);
      const datasetId = ds.json<{ id: string; valid: boolean }>().id;

      const term = TmuxSession.start('tui', env, 120, 36, ROOT);
      try {
        term.send('echo before-the-dashboard', 'Enter');
        await term.waitFor(/^before-the-dashboard$/m, 10_000);
        term.send('npx cvp tui --interval 500', 'Enter');
        await term.waitFor(/cvp dashboard .* updated/, 30_000);
        expect(term.display('#{alternate_on}')).toBe('1');

        const train = await cvp([
          'train',
          '--model',
          presetModel,
          '--dataset',
          datasetId,
          '--epochs',
          '60',
          '--imgsz',
          '32',
          '--batch',
          '2',
          '--json',
        ]);
        const jobId = train.json<{ id: string }>().id;
        const short = jobId.slice(0, 8);
        // The job appears, then runs holding a GPU lease, and its progress moves on.
        await term.waitFor(new RegExp(`${short}\\s+train\\s+(queued|running)`), 30_000);
        const holding = await term.waitFor(new RegExp(`trainer-bridge:${short}`), 180_000);
        expect(holding).toMatch(/GPU leases · 1\/2 tokens in use/);
        const pct = (s: string) =>
          Number(new RegExp(`${short}\\s+train\\s+running\\s+\\S+\\s+(\\d+)%`).exec(s)?.[1] ?? -1);
        const before = pct(
          await term.waitFor(new RegExp(`${short}\\s+train\\s+running\\s+\\S+\\s+\\d+% epoch`), 180_000),
        );
        const after = await term.waitFor(new RegExp(`${short}\\s+train\\s+running`), 1000).then(async () => {
          const deadline = Date.now() + 120_000;
          for (;;) {
            const now = pct(term.record());
            if (now > before || Date.now() > deadline) return now;
            await new Promise((r) => setTimeout(r, 500));
          }
        });
        expect(after).toBeGreaterThan(before);

        // Watching the same job elsewhere: Ctrl-C asks; "n" only stops watching (exit 130), the job runs on.
        const watcher = TmuxSession.start('watch', env, 100, 12, ROOT);
        try {
          watcher.send(`npx cvp jobs watch ${jobId}; echo "exit=$?"`, 'Enter');
          await watcher.waitFor(/epoch \d+\/60/, 60_000);
          watcher.send('C-c');
          await watcher.waitFor(/Cancel job [0-9a-f]{8}\?/, 10_000);
          watcher.send('n');
          const left = await watcher.waitFor(/^exit=\d+$/m, 20_000);
          expect(left).toMatch(/^exit=130$/m);
          expect(left).toMatch(/stopped watching; job \S+ is still running/);
        } finally {
          watcher.kill();
        }
        expect((await cvp(['jobs', 'show', jobId, '--json'])).json()).toMatchObject({ state: 'running' });

        // Cancel from the dashboard: the running job is the first row of the focused Jobs panel.
        term.send('c');
        await term.waitFor(/Cancel job\?/, 10_000);
        term.send('y');
        await term.waitFor(new RegExp(`${short}\\s+train\\s+cancelled`), 30_000);
        await term.waitFor(/GPU leases · 0\/2 tokens in use/, 30_000);
        expect((await cvp(['jobs', 'show', jobId, '--json'])).json()).toMatchObject({ state: 'cancelled' });
        term.record();

        // A benchmark's verdict with its chart: Tab to the Benchmarks panel (the fifth), Enter.
        // One key per read: keys sent at once reach the program as one string, not four Tabs.
        for (let i = 0; i < 4; i++) {
          term.send('Tab');
          await new Promise((r) => setTimeout(r, 300));
        }
        term.send('Enter');
        await term.waitFor(/p95 per candidate \(★ chosen[\s\S]*★ ort-node\//, 20_000);
        term.send('Escape');
        // A resize redraws the whole layout at the new width.
        term.resize(100, 30);
        await term.waitFor(/^╭─{98}╮$/m, 10_000);
        term.resize(120, 36);
        await term.waitFor(/^╭─{118}╮$/m, 10_000);

        term.send('q');
        const back = await term.waitFor(/^before-the-dashboard$/m, 10_000);
        expect(back).not.toMatch(/cvp dashboard/);
        expect(term.display('#{alternate_on} #{cursor_flag}')).toBe('0 1');
        term.writeCast(
          path.join(CASTS, 'cvp-tui.cast'),
          'cvp tui: a training job, its GPU lease, cancel from the dashboard',
        );
      } finally {
        term.kill();
      }
    },
    600_000,
  );
});
