import { REFUSED_BODY_LINGER_MS } from '@cvp/platform';
import { buildOnnx } from '../testing/onnx-builder';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import {
  announceHugeUpload,
  expectFilesSettle,
  filesUnder,
  openHugeUpload,
  png,
  pngBomb,
  uploadMultipart,
} from '../testing/upload-helpers';
import { buildZip } from '../testing/zip-writer';

/**
 * Hostile uploads against the running gateway (in-process, real NATS and SQLite): each refused with
 * its 4xx as problem+json, nothing left in the data dir, and the service keeps serving.
 */
describe('hostile model and data-set uploads (e2e)', () => {
  let gw: GatewayTestApp;
  let token: string;

  beforeAll(async () => {
    gw = await startGatewayTestApp({
      env: { CVP_MODEL_UPLOAD_MAX_BYTES: String(8 * 1024 * 1024), CVP_DATASET_MAX_RATIO: '100' },
    });
    token = await gw.login('engineer');
  });
  afterAll(() => gw?.close());

  const refuses = async (
    kind: 'models' | 'datasets',
    fields: Record<string, string>,
    file: { name: string; data: Buffer } | undefined,
    status: number,
    detail?: RegExp,
  ) => {
    const before = filesUnder(gw.dataDir);
    const r = await uploadMultipart(`${gw.api}/${kind}`, token, fields, file);
    expect({ status: r.status, body: r.body }).toMatchObject({ status, body: { status } });
    expect(r.contentType).toContain('application/problem+json');
    if (detail) expect(String(r.body.detail)).toMatch(detail);
    expect(await expectFilesSettle(gw.dataDir, before)).toEqual(before);
    // still serving
    expect((await fetch(`${gw.baseUrl}/health/live`)).status).toBe(200);
    return r;
  };

  const onnx = buildOnnx();

  it('truncated ONNX -> 422', async () => {
    await refuses(
      'models',
      { format: 'onnx', task: 'classify' },
      { name: 't.onnx', data: onnx.subarray(0, onnx.length - 7) },
      422,
      /truncated/,
    );
  });
  it('wrong magic (PNG declared as onnx, text declared as torchscript) -> 415', async () => {
    await refuses('models', { format: 'onnx', task: 'classify' }, { name: 'x.onnx', data: await png(4, 4) }, 415);
    await refuses(
      'models',
      { format: 'torchscript', task: 'classify' },
      { name: 'x.pt', data: Buffer.from('def forward(x): return x\n') },
      415,
    );
    await refuses(
      'models',
      { format: 'tensorflow-savedmodel', task: 'classify' },
      { name: 'x.zip', data: buildZip([{ name: 'readme.txt', data: 'hi' }]) },
      422,
      /saved_model\.pb/,
    );
    await refuses(
      'models',
      { format: 'onnx', task: 'classify' },
      { name: 'x.onnx', data: buildZip([{ name: 'a', data: 'b' }]) },
      415,
    );
  });
  it('0-byte file -> 400', async () => {
    await refuses(
      'models',
      { format: 'onnx', task: 'detect' },
      { name: 'empty.onnx', data: Buffer.alloc(0) },
      400,
      /empty/,
    );
    await refuses('datasets', { format: 'yolo' }, { name: 'empty.zip', data: Buffer.alloc(0) }, 400, /empty/);
  });
  it('ONNX with external data pointing outside the model folder -> 422', async () => {
    await refuses(
      'models',
      { format: 'onnx', task: 'classify' },
      { name: 'ext.onnx', data: buildOnnx({ externalDataLocation: '../../../../etc/passwd' }) },
      422,
      /outside/,
    );
    await refuses(
      'models',
      { format: 'onnx', task: 'classify' },
      { name: 'ext.onnx', data: buildOnnx({ externalDataLocation: '/etc/passwd' }) },
      422,
      /outside/,
    );
  });
  it('a 2 GB Content-Length -> 413 before the body is read', async () => {
    const before = filesUnder(gw.dataDir);
    const r = await announceHugeUpload(`${gw.api}/models`, token, 2 * 1024 ** 3);
    expect(r.status).toBe(413);
    expect(r.ms).toBeLessThan(5000);
    expect(await expectFilesSettle(gw.dataDir, before)).toEqual(before);
  });
  it('a chunked upload over the cap is cut at the cap -> 413', async () => {
    const big = Buffer.concat([onnx, Buffer.alloc(9 * 1024 * 1024)]);
    await refuses('models', { format: 'onnx', task: 'classify' }, { name: 'big.onnx', data: big }, 413);
  });
  it('a client still sending past the cap reads the 413, never a reset (declared length and chunked, 8 times each)', async () => {
    const head = Buffer.from(
      '--x\r\nContent-Disposition: form-data; name="format"\r\n\r\nonnx\r\n' +
        '--x\r\nContent-Disposition: form-data; name="task"\r\n\r\nclassify\r\n' +
        '--x\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\n\r\n',
    );
    const body = Buffer.concat([head, Buffer.alloc(64 * 1024 * 1024, 1), Buffer.from('\r\n--x--\r\n')]);
    async function* chunks() {
      for (let at = 0; at < body.length; at += 1 << 20) yield body.subarray(at, at + (1 << 20));
    }
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++)
      for (const chunked of [false, true]) {
        try {
          const r = await fetch(`${gw.api}/models`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=x' },
            body: chunked ? (chunks() as unknown as BodyInit) : body,
            duplex: 'half',
          } as RequestInit);
          await r.text();
          outcomes.push(String(r.status));
        } catch (e) {
          outcomes.push(
            `${chunked ? 'chunked' : 'declared'}: ${(e as { cause?: { code?: string } }).cause?.code ?? e}`,
          );
        }
      }
    expect(outcomes).toEqual(Array(16).fill('413'));
  });
  it('a client that trickles a refused body is cut off once the linger bound passes', async () => {
    const started = Date.now();
    let status = 0;
    const closedAfterMs = await new Promise<number>((resolve, reject) => {
      const req = openHugeUpload(`${gw.api}/models`, token, 2 * 1024 ** 3);
      const trickle = setInterval(() => req.write(Buffer.alloc(1024)), 100);
      const giveUp = setTimeout(() => {
        clearInterval(trickle);
        req.destroy();
        reject(new Error('the connection was still open after 30 s'));
      }, 30_000);
      req.on('response', (res) => {
        status = res.statusCode ?? 0;
        res.resume();
      });
      req.on('error', () => undefined); // the server closes while we still send
      req.on('close', () => {
        clearInterval(trickle);
        clearTimeout(giveUp);
        resolve(Date.now() - started);
      });
    });
    expect(status).toBe(413);
    expect(closedAfterMs).toBeGreaterThanOrEqual(REFUSED_BODY_LINGER_MS - 500);
    expect(closedAfterMs).toBeLessThan(REFUSED_BODY_LINGER_MS + 15_000);
  }, 40_000);
  it('bad form fields -> 400 and the staged file is removed', async () => {
    await refuses('models', { format: 'keras', task: 'classify' }, { name: 'm.onnx', data: onnx }, 400);
    await refuses('models', { format: 'onnx', task: 'classify' }, undefined, 400, /file/);
  });
  it('zip-slip entry -> 422', async () => {
    await refuses(
      'datasets',
      { format: 'yolo' },
      {
        name: 'slip.zip',
        data: buildZip([
          { name: 'data.yaml', data: 'names: [a]' },
          { name: '../../escape.txt', data: 'pwned' },
        ]),
      },
      422,
      /escapes|invalid relative path/,
    );
    await refuses(
      'datasets',
      { format: 'yolo' },
      { name: 'abs.zip', data: buildZip([{ name: '/tmp/abs.txt', data: 'pwned' }]) },
      422,
      /absolute/,
    );
  });
  it('symlink and device entries -> 422', async () => {
    await refuses(
      'datasets',
      { format: 'yolo' },
      { name: 'link.zip', data: buildZip([{ name: 'images/train/a.png', data: '/etc/passwd', mode: 0o120777 }]) },
      422,
      /symbolic link/,
    );
    await refuses(
      'datasets',
      { format: 'yolo' },
      { name: 'dev.zip', data: buildZip([{ name: 'dev', data: '', mode: 0o020666 }]) },
      422,
      /device/,
    );
  });
  it('zip bomb (ratio, and a header lying about the size) -> 413', async () => {
    const zeros = Buffer.alloc(20 * 1024 * 1024);
    await refuses(
      'datasets',
      { format: 'yolo' },
      { name: 'bomb.zip', data: buildZip([{ name: 'images/train/zeros.png', data: zeros }]) },
      413,
      /zip bomb/,
    );
    // lying header: claims 1 KiB, inflates to 20 MiB -> size validation or the streaming meter stops it
    const r = await uploadMultipart(
      `${gw.api}/datasets`,
      token,
      { format: 'yolo' },
      { name: 'liar.zip', data: buildZip([{ name: 'images/train/zeros.png', data: zeros, claimedSize: 1024 }]) },
    );
    expect([413, 422]).toContain(r.status);
  });
  it('image bomb (PNG header claiming 50000 x 50000) -> 413', async () => {
    const zip = buildZip([
      { name: 'data.yaml', data: 'names: [thing]\n' },
      { name: 'images/train/ok.png', data: await png(8, 8) },
      { name: 'images/train/bomb.png', data: pngBomb() },
    ]);
    await refuses('datasets', { format: 'yolo' }, { name: 'imgbomb.zip', data: zip }, 413, /pixel limit/);
  });
  it('a non-zip data set -> 415', async () => {
    await refuses('datasets', { format: 'imagefolder' }, { name: 'x.zip', data: await png(4, 4) }, 415);
  });

  it('a valid ONNX upload is accepted: 202, content-addressed source, a convert job queued', async () => {
    const r = await uploadMultipart(
      `${gw.api}/models`,
      token,
      { format: 'onnx', task: 'classify', name: 'tiny', labels: 'a,b,c,d' },
      { name: 'tiny.onnx', data: onnx },
    );
    expect(r.status).toBe(202);
    const model = r.body.model as { id: string; versions: { sourceSha256: string; converted: boolean }[] };
    expect((r.body.job as { id: string }).id).toBeTruthy();
    expect(model.versions[0].converted).toBe(false);
    const files = filesUnder(gw.dataDir);
    expect(files).toContain(`blobs/sha256/${model.versions[0].sourceSha256}`);
    expect(files).toContain(`models/${model.id}/v1/source.onnx`);
    // the same bytes again: stored once
    const again = await uploadMultipart(
      `${gw.api}/models`,
      token,
      { format: 'onnx', task: 'classify' },
      { name: 'tiny.onnx', data: onnx },
    );
    expect(again.status).toBe(202);
    expect(filesUnder(gw.dataDir).filter((f) => f.startsWith('blobs/'))).toHaveLength(1);
    // deleting one keeps the shared blob; deleting both leaves no orphan
    const other = (again.body.model as { id: string }).id;
    expect(
      (await fetch(`${gw.api}/models/${model.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(204);
    expect(filesUnder(gw.dataDir).filter((f) => f.startsWith('blobs/'))).toHaveLength(1);
    expect(
      (await fetch(`${gw.api}/models/${other}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(204);
    expect(filesUnder(gw.dataDir).filter((f) => f.startsWith('blobs/') || f.startsWith('models/'))).toEqual([]);
    expect(
      (await fetch(`${gw.api}/models/${model.id}`, { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(404);
  });
});
