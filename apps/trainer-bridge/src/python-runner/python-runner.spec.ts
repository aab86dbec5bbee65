import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { JobCancelledError, PermanentJobError, RetryableJobError } from '@cvp/jobs';
import { requirePython } from '../testing/python-env';
import { ReadinessChecks } from '@cvp/platform';
import pino from 'pino';
import { PythonReadiness } from './python-readiness';
import { PythonRunner } from './python-runner.service';
import type { PyProgressLine } from './python-wire';

const python = requirePython();
const dataDir = path.join(process.env.CVP_TEST_DIR!, 'runner-data');

function runner(overrides: Partial<ConstructorParameters<typeof PythonRunner>[0]> = {}) {
  return new PythonRunner({
    python,
    dataDir,
    defaultTimeoutMs: 120_000,
    killGraceMs: 1000,
    threadsPerChild: 1,
    ...overrides,
  });
}

/**
 * A stand-in `cvp_ml` package on PYTHONPATH (ahead of the installed one) that behaves as told:
 * the edge where we need exit codes the real package only produces under OOM or in odd states.
 */
function fakeCvpMl(body: string): Record<string, string> {
  const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR!, 'fake-cvp-ml-'));
  mkdirSync(path.join(dir, 'cvp_ml'));
  writeFileSync(path.join(dir, 'cvp_ml', '__init__.py'), '');
  writeFileSync(path.join(dir, 'cvp_ml', '__main__.py'), `import json, os, sys, time, signal, subprocess\n${body}\n`);
  return { PYTHONPATH: dir };
}

/** Running (a zombie waiting for a reaper that this container's init may never be counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('PythonRunner against the real cvp_ml', () => {
  it('returns the result line and relays progress lines of synth-dataset', async () => {
    const progress: PyProgressLine[] = [];
    const out = path.join(dataDir, 'ds-synth');
    const res = await runner().run(
      'synth-dataset',
      ['--kind', 'yolo', '--out', out, '--images', '4', '--imgsz', '32'],
      { onProgress: (l) => progress.push(l) },
    );
    expect(res.command).toBe('synth-dataset');
    expect(res.data_yaml).toBe(path.join(out, 'data.yaml'));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0].stage).toBe('synth');
  });

  it("maps exit 2 (bad input) to PermanentJobError with python's message", async () => {
    const err = await runner()
      .run('train', ['--model', 'yolov8n', '--data', path.join(dataDir, 'missing'), '--out', path.join(dataDir, 'x')])
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect((err as Error).message).toMatch(/data_error: data set .* does not exist/);
  });

  it('reports cvp_ml version for readiness, and a missing interpreter clearly', async () => {
    expect(await runner().version()).toMatch(/^\d+\.\d+\.\d+/);
    await expect(runner({ python: '/nonexistent/python' }).version(5000)).rejects.toThrow();
    await expect(runner({ python: '/nonexistent/python' }).run('inspect', [])).rejects.toThrow(PermanentJobError);
  });

  it('readiness: "python" is registered, up once cvp_ml answered, down with the reason for a broken interpreter', async () => {
    const checks = new ReadinessChecks();
    const ok = new PythonReadiness(runner(), checks, pino({ level: 'silent' }));
    ok.onApplicationBootstrap();
    expect(checks.names()).toContain('python');
    expect(await ok.check()).toBe(true);
    expect(ok.version).toMatch(/^\d+\.\d+/);
    const bad = new PythonReadiness(
      runner({ python: '/nonexistent/python' }),
      new ReadinessChecks(),
      pino({ level: 'silent' }),
    );
    expect(await bad.check()).toMatch(/\/nonexistent\/python/);
  });

  it('gives the child the offline environment and the data dir', async () => {
    const env = runner().childEnv({ EXTRA: '1' });
    expect(env).toMatchObject({ YOLO_OFFLINE: 'true', YOLO_AUTOINSTALL: 'false', CVP_DATA_DIR: dataDir, EXTRA: '1' });
  });
});

describe('PythonRunner exit-code mapping (fake cvp_ml package on PYTHONPATH)', () => {
  const emitError = (code: string, exit: number) =>
    `print(json.dumps({"type":"error","ts":0,"code":"${code}","message":"boom ${code}"}), flush=True)\nsys.stderr.write("trace line\\n")\nsys.exit(${exit})`;

  it('exit 3 is out-of-memory: permanent, with a clear message', async () => {
    const err = await runner()
      .run('train', [], { env: fakeCvpMl(emitError('out_of_memory', 3)) })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect((err as Error).message).toMatch(/ran out of memory .*out_of_memory: boom.*lower batch or imgsz/);
  });

  it('exit 4 is cancelled, exit 1 and a crash are retryable, exit 0 without a result is retryable', async () => {
    await expect(runner().run('x', [], { env: fakeCvpMl(emitError('cancelled', 4)) })).rejects.toThrow(
      JobCancelledError,
    );
    const e1 = await runner()
      .run('x', [], { env: fakeCvpMl(emitError('internal', 1)) })
      .catch((e: Error) => e);
    expect(e1).toBeInstanceOf(RetryableJobError);
    expect((e1 as Error).message).toMatch(/exit 1.*internal: boom internal/s);
    const crash = await runner()
      .run('x', [], { env: fakeCvpMl('sys.stderr.write("Segfault-ish\\n"); os.kill(os.getpid(), 9)') })
      .catch((e: Error) => e);
    expect(crash).toBeInstanceOf(RetryableJobError);
    expect((crash as Error).message).toMatch(/signal SIGKILL.*Segfault-ish/s);
    await expect(runner().run('x', [], { env: fakeCvpMl('print("not json")') })).rejects.toThrow(
      /exited 0 without a result/,
    );
  });

  it('ignores stdout that is not the wire format and keeps the last result', async () => {
    const res = await runner().run('x', [], {
      env: fakeCvpMl(
        'print("noise"); print("{broken"); print(json.dumps({"type":"progress","ts":0,"stage":"s"})); print(json.dumps({"type":"result","ts":0,"command":"x","v":7}))',
      ),
    });
    expect(res.v).toBe(7);
  });

  it('a timeout stops the child and fails retryably', async () => {
    const t0 = Date.now();
    const err = await runner()
      .run('x', [], { timeoutMs: 500, env: fakeCvpMl('time.sleep(60)') })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(RetryableJobError);
    expect((err as Error).message).toMatch(/timed out/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('cancel: SIGTERM then SIGKILL reaches the whole process group within 5 s, even when SIGTERM is ignored', async () => {
    const pidFile = path.join(dataDir, `pids-${Date.now()}.txt`);
    mkdirSync(dataDir, { recursive: true });
    const ac = new AbortController();
    // The child ignores SIGTERM and starts a grandchild that does too.
    const body = [
      'signal.signal(signal.SIGTERM, signal.SIG_IGN)',
      `g = subprocess.Popen([sys.executable, "-c", "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])`,
      `open(${JSON.stringify(pidFile)}, "w").write(f"{os.getpid()} {g.pid}")`,
      'print(json.dumps({"type":"progress","ts":0,"stage":"started"}), flush=True)',
      'time.sleep(120)',
    ].join('\n');
    let started!: () => void;
    const isStarted = new Promise<void>((r) => (started = r));
    const p = runner({ killGraceMs: 1500 }).run('x', [], {
      signal: ac.signal,
      env: fakeCvpMl(body),
      onProgress: () => started(),
    });
    await isStarted;
    const [pid, grandchild] = execFileSync('cat', [pidFile]).toString().split(' ').map(Number);
    expect(alive(pid) && alive(grandchild)).toBe(true);
    const t0 = Date.now();
    ac.abort();
    await expect(p).rejects.toThrow(JobCancelledError);
    expect(Date.now() - t0).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(pid)).toBe(false);
    expect(alive(grandchild)).toBe(false);
  });

  it('an abort with a reason (lease lost) fails retryably, not as cancelled', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const err = await runner()
      .run('x', [], {
        signal: ac.signal,
        env: fakeCvpMl('time.sleep(60)'),
        abortReason: () => 'GPU lease L lost (expired)',
      })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(RetryableJobError);
    expect((err as Error).message).toMatch(/stopped: GPU lease L lost/);
  });
});
