import autocannon from 'autocannon';
import { type Harness, startInference } from '../src/testing/inference-harness';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { waitFor } = require('../../../scripts/lib/ports');

/** A binary v2 infer request for the mlp fixture: [rows, 256] FP32 (a run of a few ms). */
function mlpRequest(rows = 64): { headers: Record<string, string>; body: Buffer } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'a', datatype: 'FP32', shape: [rows, 256], parameters: { binary_data_size: rows * 256 * 4 } }],
      outputs: [{ name: 'b', parameters: { binary_data: true } }],
    }),
  );
  const data = Buffer.alloc(rows * 256 * 4);
  for (let i = 0; i < rows * 256; i++) data.writeFloatLE(Math.sin(i), i * 4);
  return {
    headers: { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' },
    body: Buffer.concat([header, data]),
  };
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ timeout: 20, ...opts }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

const codes = (r: autocannon.Result) =>
  Object.keys(r.statusCodeStats ?? {})
    .map(Number)
    .sort();

describe('load with real HTTP clients (autocannon)', () => {
  let h: Harness;
  afterEach(() => h?.close());

  it('overload beyond the queue cap yields only 200s and 429s with Retry-After, no hang, no 5xx', async () => {
    h = await startInference({ CVP_INFER_WORKERS: '2', CVP_INFER_QUEUE_CAP: '3', CVP_INFER_DEADLINE_MS: '20000' });
    await h.deploy('mlp', 'mlp.onnx');
    const req = mlpRequest(128);
    const started = Date.now();
    const r = await run({ url: `${h.url}/v2/models/mlp/infer`, method: 'POST', connections: 32, duration: 3, ...req });
    expect(Date.now() - started).toBeLessThan(15_000); // bounded: nobody waited for a timeout
    expect(r.errors).toBe(0);
    expect(r.timeouts).toBe(0);
    expect(codes(r)).toEqual([200, 429]);
    expect(r['2xx']).toBeGreaterThan(0);
    expect(r.non2xx).toBe(r.statusCodeStats['429'].count);
    // A 429 arrives at once and says when to come back (heavier requests keep the workers busy).
    const heavy = mlpRequest(1024);
    const burst = await Promise.all(
      Array.from({ length: 16 }, () =>
        fetch(`${h.url}/v2/models/mlp/infer`, { method: 'POST', headers: heavy.headers, body: heavy.body }),
      ),
    );
    const refused = burst.filter((b) => b.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(burst.every((b) => b.status === 200 || b.status === 429)).toBe(true);
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/cvp_inference_failures_total\{[^}]*model="mlp"[^}]*reason="rejected"[^}]*\} [1-9]/);
  });

  it('a deployment made while traffic flows does not drop requests for other models', async () => {
    h = await startInference({ CVP_INFER_WORKERS: '4', CVP_INFER_QUEUE_CAP: '64' });
    await h.deploy('steady', 'mlp.onnx');
    const req = mlpRequest(16);
    const traffic = run({
      url: `${h.url}/v2/models/steady/infer`,
      method: 'POST',
      connections: 8,
      duration: 4,
      ...req,
    });
    await new Promise((r) => setTimeout(r, 800));
    // A new model loads, and then the served model itself is redeployed (swap after warm-up).
    await h.deploy('newcomer', 'conv_det.onnx', { task: 'detect' });
    await h.deploy('steady', 'mlp.onnx', { deploymentId: 'steady-v2' });
    const r = await traffic;
    expect(r.errors).toBe(0);
    expect(r.timeouts).toBe(0);
    expect(r.non2xx).toBe(0);
    expect(r['2xx']).toBeGreaterThan(10);
    expect(h.repository.get('steady')?.deploymentId).toBe('steady-v2');
    expect((await fetch(`${h.url}/v2/models/newcomer/ready`)).status).toBe(200);
    expect((await fetch(`${h.url}/v2/health/ready`)).status).toBe(200);
  });

  it('a client that hangs up is dropped from the queue instead of being computed for nobody', async () => {
    h = await startInference({ CVP_INFER_WORKERS: '1', CVP_INFER_QUEUE_CAP: '16' });
    await h.deploy('mlp', 'mlp.onnx');
    const heavy = mlpRequest(2048);
    const abortedCount = (text: string) =>
      Number(/cvp_inference_failures_total\{[^}]*model="mlp"[^}]*reason="aborted"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    const receivedCount = (text: string) =>
      Number(/cvp_inference_requests_total\{[^}]*model="mlp"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    const before = await (await fetch(`${h.url}/metrics`)).text();
    const abortedBefore = abortedCount(before);
    const receivedBefore = receivedCount(before);
    const receivedNow = async () => receivedCount(await (await fetch(`${h.url}/metrics`)).text()) - receivedBefore;
    // Real requests keep the single worker busy well past the hang-ups, so every quitter is still
    // queued when it leaves: the quitters hang up as soon as the server has admitted them (a place
    // is taken before the body is read), not after a fixed time that a fast machine could outrun.
    const BUSY = 8;
    const busy = Array.from({ length: BUSY }, () =>
      fetch(`${h.url}/v2/models/mlp/infer`, { method: 'POST', headers: heavy.headers, body: heavy.body }),
    );
    await waitFor(async () => (await receivedNow()) >= BUSY, { timeoutMs: 10_000, intervalMs: 5, what: 'busy sent' });
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const quitters = controllers.map((ac) =>
      fetch(`${h.url}/v2/models/mlp/infer`, {
        method: 'POST',
        headers: heavy.headers,
        body: heavy.body,
        signal: ac.signal,
      }).catch((e: Error) => e.name),
    );
    await waitFor(async () => (await receivedNow()) >= BUSY + 5, {
      timeoutMs: 10_000,
      intervalMs: 5,
      what: 'quitters admitted',
    });
    for (const ac of controllers) ac.abort();
    expect(await Promise.all(quitters)).toEqual(Array(5).fill('AbortError'));
    for (const b of await Promise.all(busy)) expect(b.status).toBe(200);
    // the registry is per process: compare against the count before this test's hang-ups
    const until = Date.now() + 5000;
    let aborted = 0;
    let received = 0;
    while (Date.now() < until) {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      aborted = abortedCount(text) - abortedBefore;
      received = receivedCount(text) - receivedBefore;
      if (aborted >= 3 && aborted >= received - BUSY - 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // hang-ups that were queued are counted aborted (one may leave while its body is still
    // arriving, before admission, and is then not queued at all)
    expect(aborted).toBeGreaterThanOrEqual(3);
    expect(aborted).toBeLessThanOrEqual(received - BUSY);
    // Queued quitters never run. The one holding the single worker when it hangs up (if any)
    // cannot be stopped mid-compute, so at most one extra request ran.
    const stats = await (await fetch(`${h.url}/v2/models/mlp/stats`)).json();
    const ran = stats.model_stats[0].inference_stats.success.count;
    expect(ran).toBeGreaterThanOrEqual(BUSY);
    expect(ran).toBeLessThanOrEqual(BUSY + 1);
    expect(aborted + (ran - BUSY)).toBeLessThanOrEqual(received - BUSY);
  });
});
