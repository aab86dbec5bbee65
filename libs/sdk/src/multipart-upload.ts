import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Readable } from 'node:stream';

/** How long a failed body write waits for the answer the server may already be sending. */
const EARLY_ANSWER_GRACE_MS = 2000;
/**
 * How long the headers alone wait for a refusal before the body follows (curl's Expect: 100-continue
 * wait, without relying on the server's 100, which Node's http server sends before any check).
 */
const REFUSAL_WAIT_MS = 300;

export interface MultipartUpload {
  url: string;
  headers: Record<string, string>;
  fields: Record<string, string | undefined>;
  /** The `file` part, streamed from disk. */
  file: string;
  signal?: AbortSignal;
}

const quote = (s: string) => s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

/**
 * POSTs multipart/form-data with the file streamed from disk and an exact Content-Length, so the
 * gateway refuses an oversized file from its declared size before reading it (413 at once, instead
 * of after streaming the limit to disk). The body follows the headers after a short wait for such a
 * refusal; a body write that fails anyway only fails the call when no answer follows within a
 * short grace.
 */
export async function postMultipart(u: MultipartUpload): Promise<Response> {
  const boundary = `----cvp-${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(u.fields))
    if (value !== undefined)
      head += `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`;
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quote(path.basename(u.file))}"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  const tail = `\r\n--${boundary}--\r\n`;
  const size = (await fs.stat(u.file)).size;
  const length = Buffer.byteLength(head) + size + Buffer.byteLength(tail);
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(head);
      yield* createReadStream(u.file);
      yield Buffer.from(tail);
    })(),
  );

  const url = new URL(u.url);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const done = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const req = lib.request(url, {
      method: 'POST',
      headers: {
        ...u.headers,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(length),
      },
      signal: u.signal,
    });
    req.on('response', (res) => {
      // Refused: stop sending the rest of the file, and drop the connection once the answer is read.
      if ((res.statusCode ?? 0) >= 400) {
        body.unpipe(req);
        body.destroy();
        res.once('end', () => req.destroy());
      }
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers))
        for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, one);
      const answer = res.statusCode === 204 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      done(() =>
        resolve(new Response(answer, { status: res.statusCode ?? 502, statusText: res.statusMessage, headers })),
      );
    });
    // A ref'd timer: it keeps the process alive while the answer may still be on its way.
    const fail = (e: Error) => {
      if (!settled) setTimeout(() => done(() => reject(e)), EARLY_ANSWER_GRACE_MS);
    };
    req.on('error', fail);
    body.on('error', fail);
    // The gateway checks the declared size and the caller before reading the body: give it the
    // chance to refuse first, so a refusal is never lost to a reset connection mid-upload.
    req.flushHeaders();
    setTimeout(() => {
      if (!settled) body.pipe(req);
    }, REFUSAL_WAIT_MS);
  });
}
