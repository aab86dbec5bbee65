import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { insideOutputs, Sandbox, type SandboxAvailability } from './sandbox';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits, type SandboxSpec } from './sandbox-spec';

/** Runs a shell script in a sandbox; resolves with its exit code, signal and output. */
async function runIn(
  sandbox: Sandbox,
  spec: SandboxSpec,
  script: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  const launch = await sandbox.enter(spec, '/usr/bin/bash', ['-c', script]);
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, out, err });
      });
    });
  } finally {
    await launch.release();
  }
}

describe('Sandbox (integration, real bubblewrap)', () => {
  let availability: SandboxAvailability;
  const root = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'sandbox-'));
  // A "repo" whose system part the child may read, with a data dir inside it that must stay hidden.
  const repo = path.join(root, 'repo');
  const dataDir = path.join(repo, 'var');
  const secret = path.join(dataDir, 'run', 'jwt-secret');
  const input = path.join(dataDir, 'models', 'm1', 'v1', 'source.pt');
  const output = path.join(dataDir, 'models', 'm1', '.tmp-job');
  const otherJob = path.join(dataDir, 'jobs', 'other', 'study.db');
  for (const f of [secret, input, otherJob]) mkdirSync(path.dirname(f), { recursive: true });
  mkdirSync(output, { recursive: true });
  mkdirSync(path.join(repo, 'code'), { recursive: true });
  writeFileSync(path.join(repo, 'code', 'tool.sh'), 'echo tool-ran\n');
  writeFileSync(secret, 'super-secret-value-0123456789abcdef');
  writeFileSync(input, 'the-input');
  writeFileSync(otherJob, 'another-job');

  const spec = (limits: Partial<SandboxLimits> = {}): SandboxSpec => ({
    system: [repo],
    inputs: [input],
    outputs: [output],
    hide: [dataDir],
    env: { PATH: '/usr/bin:/bin', HOME: '/tmp', ONLY_THIS: 'yes' },
    limits: { ...DEFAULT_SANDBOX_LIMITS, cpuSeconds: 30, memoryBytes: 512 << 20, ...limits },
  });

  beforeAll(async () => {
    process.env.CVP_SANDBOX_TEST_HOST_ONLY = 'host-value';
    availability = await Sandbox.detect();
    if (!availability.available) console.warn(`skipped: ${availability.reason}`);
  });

  const sandbox = () => (availability.available ? availability.sandbox : null);

  it('sees the system part, its input (read-only) and its output; nothing else of the data dir', async () => {
    const sb = sandbox();
    if (!sb) return;
    const r = await runIn(
      sb,
      spec(),
      [
        `bash ${repo}/code/tool.sh`,
        `cat ${input}`,
        `echo; cat ${secret} 2>&1 || echo no-secret`,
        `cat ${otherJob} 2>&1 || echo no-other-job`,
        `echo tamper > ${input} 2>&1 || echo input-read-only`,
        `echo written > ${output}/result.txt && echo output-writable`,
        `echo escape > ${dataDir}/pwned.txt 2>&1 || echo no-write-outside`,
        `ls ${dataDir}`,
      ].join('; '),
    );
    expect(r.out).toContain('tool-ran');
    expect(r.out).toContain('the-input');
    expect(r.out).toContain('no-secret');
    expect(r.out).toContain('no-other-job');
    expect(r.out).toContain('input-read-only');
    expect(r.out).toContain('output-writable');
    expect(r.out).toContain('no-write-outside');
    expect(r.out).not.toContain('super-secret-value');
    expect(r.out.trim().split('\n').at(-1)).toBe('models'); // only the path to its own files
    // Asserted from outside: the host files are untouched, the output arrived and is ours again.
    expect(readFileSync(input, 'utf8')).toBe('the-input');
    expect(existsSync(path.join(dataDir, 'pwned.txt'))).toBe(false);
    expect(readFileSync(path.join(output, 'result.txt'), 'utf8')).toBe('written\n');
    expect(statSync(path.join(output, 'result.txt')).uid).toBe(process.getuid?.());
  });

  it('gives the child a private, writable /dev/shm (multiprocessing locks and data-loader workers need it)', async () => {
    const sb = sandbox();
    if (!sb) return;
    const r = await runIn(sb, spec(), `echo shm-ok > /dev/shm/probe && cat /dev/shm/probe`);
    expect(r.out).toContain('shm-ok');
    expect(existsSync('/dev/shm/probe')).toBe(false); // not the host's
  });

  it('has no network: a listener on the host loopback never sees a connection', async () => {
    const sb = sandbox();
    if (!sb) return;
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await runIn(
        sb,
        spec(),
        `(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo connected || echo refused`,
      );
      expect(r.out.trim()).toBe('refused');
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it('gets only the spec environment', async () => {
    const sb = sandbox();
    if (!sb) return;
    const r = await runIn(sb, spec(), 'env | sort');
    expect(r.out).toContain('ONLY_THIS=yes');
    expect(r.out).not.toContain('CVP_SANDBOX_TEST_HOST_ONLY');
    expect(r.out).not.toContain('CVP_NATS_URL');
  });

  it('caps processes: a fork loop stops at the limit and the host is unaffected', async () => {
    const sb = sandbox();
    if (!sb) return;
    const r = await runIn(
      sb,
      spec({ processes: 20 }),
      // python, not bash: bash retries a failed fork for minutes.
      `python3 -c "
import os, time
n = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        n += 1
except OSError:
    pass
print('forked=%d' % n)"`,
    );
    const forked = Number(/forked=(\d+)/.exec(r.out)?.[1]);
    expect(forked).toBeLessThan(40);
  });

  it('caps CPU time (SIGXCPU), file size (SIGXFSZ) and memory', async () => {
    const sb = sandbox();
    if (!sb) return;
    const cpu = await runIn(sb, spec({ cpuSeconds: 1 }), 'while :; do :; done');
    expect(cpu.code === 128 + 24 || cpu.signal === 'SIGXCPU' || cpu.signal === 'SIGKILL' || cpu.code === 137).toBe(
      true,
    );

    const big = await runIn(sb, spec({ fileSizeBytes: 1 << 20 }), `head -c 4000000 /dev/zero > ${output}/big.bin`);
    expect(big.code).not.toBe(0);
    expect(statSync(path.join(output, 'big.bin')).size).toBeLessThanOrEqual(1 << 20);

    const mem = await runIn(
      sb,
      spec({ memoryBytes: 64 << 20 }),
      `python3 -c "b = bytearray(256 << 20)" 2>&1 || echo alloc-failed`,
    );
    if (existsSync('/usr/bin/python3')) expect(mem.out).toMatch(/MemoryError|alloc-failed/);
  });

  it('removes links the child planted in its output and reports only paths inside it', async () => {
    const sb = sandbox();
    if (!sb) return;
    await runIn(
      sb,
      spec(),
      `ln -s ${secret} ${output}/checkpoint.pt; mkfifo ${output}/pipe; echo ok > ${output}/model.onnx`,
    );
    expect(existsSync(path.join(output, 'model.onnx'))).toBe(true);
    expect(() => lstatSync(path.join(output, 'checkpoint.pt'))).toThrow(/ENOENT/);
    expect(() => lstatSync(path.join(output, 'pipe'))).toThrow(/ENOENT/);
    expect(await insideOutputs(path.join(output, 'model.onnx'), [output])).toBe(true);
    expect(await insideOutputs(secret, [output])).toBe(false);
    expect(await insideOutputs(`${output}/../../../run/jwt-secret`, [output])).toBe(false);
    expect(await insideOutputs('relative/model.onnx', [output])).toBe(false);
  });
});
