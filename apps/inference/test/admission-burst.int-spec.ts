import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
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
    type Answer = { status: number; retryAfter: string | null; body: string };
    // node:http, not fetch: undici resets its socket when a response completes before the request
    // body is sent, and that reset can surface as EPIPE instead of the 429 it already received.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    /** Sends the headers and the first `head` bytes; the rest goes when `finish()` is called. */
    const open = (head: number) => {
      let finish = () => {};
      let settled = false;
      let uploaded: Promise<unknown> = Promise.resolve();
      const answer = new Promise<Answer>((resolve, reject) => {
        const r = http.request(`${url}/v2/models/multi/infer`, {
          method: 'POST',
          agent,
          headers: { ...req.headers, 'content-length': String(req.body.length) },
        });
        r.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            settled = true;
            const retryAfter = res.headers['retry-after'];
            resolve({
              status: res.statusCode!,
              retryAfter: retryAfter ?? null,
              body: Buffer.concat(chunks).toString(),
            });
          });
        });
        // Once answered, a failed upload of the rest is not the request's outcome.
        r.on('error', (e) => !settled && reject(e));
        // The whole body handed to the socket, or the upload ended by the server.
        uploaded = new Promise((done) => r.once('close', done).once('finish', done));
        r.write(req.body.subarray(0, head));
        finish = () => void r.end(req.body.subarray(head));
      });
      return { answer, finish, answered: () => settled, uploaded: () => uploaded };
    };
    // Warm: one request of the same size, so allocator and session pools are at their working size.
    const warm = open(0);
    warm.finish();
    expect((await warm.answer).status).toBe(200);
    const before = rss(server.pid!);

    // Every request of the burst is in the server before any can finish: the admitted ones wait for
    // the rest of their bodies, so the refusals are decided while 40 requests are open at once.
    const BURST = 40;
    const ADMITTED = 3; // workers (1) + queue cap (2)
    const burst = Array.from({ length: BURST }, () => open(64 * 1024));
    const refusalsBy = Date.now() + 60_000;
    while (burst.filter((b) => b.answered()).length < BURST - ADMITTED && Date.now() < refusalsBy)
      await new Promise((r) => setTimeout(r, 50));
    const refusedBeforeBodies = burst.filter((b) => b.answered()).length;
    // The refused requests now send their 12.6 MB too: the server must discard them, not hold them.
    for (const b of burst) b.finish();
    const answers = await Promise.all(burst.map((b) => b.answer));
    await Promise.all(burst.map((b) => b.uploaded()));
    const after = rss(server.pid!);
    agent.destroy();

    // Exactly the places of workers + queue cap were taken; every other request was refused from its
    // headers alone, before its body was sent.
    expect(refusedBeforeBodies).toBe(BURST - ADMITTED);
    const refused = answers.filter((a) => a.status === 429);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    expect(answers.length - refused.length).toBe(ADMITTED);
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
