import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../../scripts/lib/ports';
import { FIXTURES } from '../src/testing/inference-harness';

const ROOT = path.resolve(__dirname, '../../..');

/** The server's resident set now and its high-water mark (kB), from /proc. */
function rss(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}

/** A binary request for multi_dtype.onnx with `rows` rows (48 bytes a row), answering only the small `pos`. */
function bigRequest(rows: number): { headers: Record<string, string>; body: Buffer } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [rows, 4], parameters: { binary_data_size: rows * 16 } },
        { name: 'k', datatype: 'INT64', shape: [rows, 4], parameters: { binary_data_size: rows * 32 } },
      ],
      outputs: [{ name: 'pos', parameters: { binary_data: true } }],
    }),
  );
  return {
    headers: { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' },
    body: Buffer.concat([header, Buffer.alloc(rows * 48, 1)]),
  };
}

/**
 * Admission before the body: the data plane runs as its own process (the bundle's standalone
 * entry, from the TypeScript sources), so its resident set is the server's alone.
 */
describe('a burst of large bodies beyond the queue cap', () => {
  let server: ChildProcess | undefined;
  let log = '';
  afterAll(async () => {
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    const t = setTimeout(() => server?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  });

  it('gets 429 at once for every request past workers + queue cap, and the server never buffers their bodies', async () => {
    const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? '/tmp', 'inference-burst-'));
    const config = path.join(dir, 'model-config.json');
    writeFileSync(
      config,
      JSON.stringify({
        schemaVersion: 1,
        action: 'deploy',
        deploymentId: 'burst',
        modelName: 'multi',
        config: { engine: 'ort-node', modelPath: path.join(FIXTURES, 'multi_dtype.onnx'), options: { threads: 1 } },
      }),
    );
    const port = await freePort();
    server = spawn(
      process.execPath,
      [
        '--require',
        path.join(ROOT, 'tools/jest/ts-register.js'),
        'apps/inference/src/static-repository/standalone.main.ts',
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          NODE_ENV: 'development',
          CVP_DATA_DIR: dir,
          CVP_HOST: '127.0.0.1',
          CVP_INFERENCE_PORT: String(port),
          CVP_INFER_MODEL_CONFIG: config,
          CVP_INFER_WORKERS: '1',
          CVP_INFER_QUEUE_CAP: '2',
          CVP_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    server.stdout!.on('data', (b: Buffer) => (log = (log + b).slice(-4000)));
    server.stderr!.on('data', (b: Buffer) => (log = (log + b).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const until = Date.now() + 90_000;
    for (;;) {
      const ok = await fetch(`${url}/v2/health/ready`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > until || server.exitCode !== null) throw new Error(`data plane did not get ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const req = bigRequest(1 << 18); // 12.6 MB a body
    const send = () =>
      fetch(`${url}/v2/models/multi/infer`, { method: 'POST', headers: req.headers, body: req.body }).then(
        async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.text() }),
      );
    // Warm: one request of the same size, so allocator and session pools are at their working size.
    expect((await send()).status).toBe(200);
    const before = rss(server.pid!);

    const BURST = 40;
    const answers = await Promise.all(Array.from({ length: BURST }, send));
    const after = rss(server.pid!);

    const refused = answers.filter((a) => a.status === 429);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    // workers (1) + queue cap (2) places: at most 3 of the burst were admitted
    expect(answers.length - refused.length).toBeLessThanOrEqual(3);
    expect(answers.length - refused.length).toBeGreaterThanOrEqual(1);
    expect(Number(refused[0].retryAfter)).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(refused[0].body)).toMatchObject({ status: 429, reason: 'queue_full' });
    const burstBytes = BURST * req.body.length;
    const grewKb = after.peak - before.peak;
    // The refused bodies (37 x 12.6 MB = 470 MB) were never held: the peak grew by a fraction of
    // the burst (the admitted bodies, their tensors and outputs), not by its size.
    expect(grewKb * 1024).toBeLessThan(0.25 * burstBytes);
    expect(server.exitCode).toBeNull();
  }, 180_000);
});
