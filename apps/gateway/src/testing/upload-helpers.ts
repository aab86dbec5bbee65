import { readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** Every file under the data dir except the database: what an upload may leave behind. */
export function filesUnder(dataDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!/^gateway\.sqlite/.test(e.name) && !p.includes(`${path.sep}nats${path.sep}`))
        out.push(path.relative(dataDir, p));
    }
  };
  if (statSync(dataDir, { throwIfNoEntry: false })) walk(dataDir);
  return out.sort();
}

/** Polls (bounded) until the data dir holds exactly `expected` files: cleanup may finish just after the answer. */
export async function expectFilesSettle(dataDir: string, expected: string[], timeoutMs = 3000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let now = filesUnder(dataDir);
  while (JSON.stringify(now) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = filesUnder(dataDir);
  }
  return now;
}

export async function uploadMultipart(
  url: string,
  token: string,
  fields: Record<string, string>,
  file?: { name: string; data: Buffer },
): Promise<{ status: number; body: Record<string, unknown>; contentType: string }> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  if (file) fd.append('file', new Blob([new Uint8Array(file.data)]), file.name);
  const r = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
  const text = await r.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: r.status, body, contentType: r.headers.get('content-type') ?? '' };
}

/** A multipart upload request announcing `declaredBytes`; the caller writes (or does not write) the body. */
export function openHugeUpload(url: string, token: string, declaredBytes: number): http.ClientRequest {
  const u = new URL(url);
  return http.request({
    host: u.hostname,
    port: u.port,
    path: u.pathname,
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'multipart/form-data; boundary=x',
      'content-length': String(declaredBytes),
    },
  });
}

/** Sends headers announcing `declaredBytes` and only a few bytes; resolves with the status the server answers. */
export function announceHugeUpload(
  url: string,
  token: string,
  declaredBytes: number,
): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = openHugeUpload(url, token, declaredBytes);
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer within 10 s to a 2 GB Content-Length'));
    }, 10_000);
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      resolve({ status: res.statusCode ?? 0, ms: Date.now() - started });
      req.destroy();
    });
    req.on('error', () => undefined); // the server closes the socket while we still "send"
    req.write('--x\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\n\r\n');
    req.write(Buffer.alloc(1024));
  });
}

export const png = (w: number, h: number, rgb: [number, number, number] = [200, 30, 30]) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();

/** A tiny PNG whose header claims width x height pixels: decoders that trust it allocate gigabytes. */
export function pngBomb(width = 50_000, height = 50_000): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
