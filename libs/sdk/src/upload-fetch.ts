import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/** How long a failed body write waits for the answer the server may already be sending. */
const EARLY_ANSWER_GRACE_MS = 2000;

/**
 * fetch for uploads: streams the request body through node:http and resolves with the server's
 * answer even when the server answers before the body is sent and closes the connection (a 413
 * on Content-Length, a 415 on the first bytes). fetch (undici) reports such a write as a
 * network error and loses the answer; here a write error only fails the call when no answer
 * follows within a short grace.
 */
export function uploadFetch(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const lib = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => (headers[k] = v));
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const done = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const req = lib.request(url, { method: request.method, headers, signal: request.signal });
    const body = request.body ? Readable.fromWeb(request.body as never) : null;
    req.on('response', (res) => {
      // Refused: stop sending the rest of the file (the answer is read on the same connection).
      if ((res.statusCode ?? 0) >= 400 && body) {
        body.unpipe(req);
        body.destroy();
      }
      const out = new Headers();
      for (const [k, v] of Object.entries(res.headers))
        for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) out.append(k, one);
      const answer = res.statusCode === 204 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      done(() =>
        resolve(new Response(answer, { status: res.statusCode ?? 502, statusText: res.statusMessage, headers: out })),
      );
    });
    const fail = (e: Error) => setTimeout(() => done(() => reject(e)), EARLY_ANSWER_GRACE_MS).unref();
    req.on('error', fail);
    if (!body) {
      req.end();
      return;
    }
    body.on('error', fail);
    body.pipe(req);
  });
}
