'use strict';
/**
 * Closed-loop HTTP/1.1 load for the load benchmark: `users` clients, each on its own keep-alive
 * connection, send the next request when the previous one is answered, for `seconds` (and at most
 * `maxRequests` in all). Every request sent is counted once: answered 200, 429 (split by the
 * problem's `reason`: queue_full or deadline), another status, a transport error, or unanswered
 * when the run ends. After the window no new request is sent and those in flight get `graceMs`
 * to finish (they count as answered, but not towards throughput, which is 200s completed inside
 * the window per second); what is still open then is closed and counted unanswered.
 *
 * Built on plain sockets so that it costs the machine little: the load generator shares the CPU
 * with the server it measures (and the raw engine does not have one). Each request is one
 * prebuilt buffer written as is; answers are read into one reused buffer per connection (net's
 * `onread`), so a 1 MB answer allocates nothing; only the status line and headers are parsed
 * (Content-Length or chunked framing), and the body of anything but a 200 is kept (for the 429
 * reason).
 */
const net = require('node:net');

function pct(sorted, p) {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
    : NaN;
}
const round = (v, d = 3) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);

const CRLF2 = Buffer.from('\r\n\r\n');

/** One keep-alive connection answering one request at a time. */
class Connection {
  constructor(host, port, onError) {
    this.pending = null;
    this.head = [];
    this.headBytes = 0;
    this.status = 0;
    this.remaining = -1;
    this.bodyBytes = 0;
    this.kept = [];
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: Buffer.allocUnsafe(256 * 1024), callback: (n, buf) => this.onData(buf, n) },
    });
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.fail(new Error('connection closed by the server')));
    this.onError = onError;
  }

  /** Sends a prebuilt request; resolves {status, bytes, body} when the whole answer is in. */
  send(request) {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.status = 0;
      this.remaining = -1;
      this.bodyBytes = 0;
      this.head = [];
      this.headBytes = 0;
      this.kept = [];
      this.socket.write(request);
    });
  }

  onData(buf, n) {
    let at = 0;
    while (at < n && this.pending) {
      if (this.remaining < 0) {
        // Still in the status line and headers: they are small, so copies are fine here.
        const part = Buffer.from(buf.subarray(at, n));
        this.head.push(part);
        this.headBytes += part.length;
        const all = this.head.length === 1 ? part : Buffer.concat(this.head);
        const end = all.indexOf(CRLF2);
        if (end < 0) {
          if (this.headBytes > 65536) this.fail(new Error('response headers over 64 KB'));
          return;
        }
        const text = all.toString('latin1', 0, end);
        this.status = Number(text.slice(9, 12));
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        this.chunked = !m && /\r\ntransfer-encoding:\s*chunked/i.test(text);
        if (!m && !this.chunked) return this.fail(new Error(`HTTP ${this.status} answer without a length`));
        this.remaining = m ? Number(m[1]) : 0;
        this.chunkLine = '';
        this.chunkState = 'size'; // chunked: size line, data, CRLF after data, ... last CRLF
        // Bytes after the head belong to the body; the head was copied, so count them from there.
        at = n - (all.length - (end + 4));
        this.head = [];
        if (!this.chunked && this.remaining === 0) this.done();
        continue;
      }
      if (this.chunked && this.remaining === 0) {
        // Chunk framing: a hex size line, or the CRLF after a chunk's data, or the final CRLF.
        const c = buf[at++];
        if (c !== 10) {
          if (c !== 13) this.chunkLine += String.fromCharCode(c);
          continue;
        }
        const line = this.chunkLine;
        this.chunkLine = '';
        if (this.chunkState === 'size') {
          const size = parseInt(line, 16);
          if (!Number.isFinite(size)) return this.fail(new Error(`bad chunk size line "${line}"`));
          if (size === 0) this.chunkState = 'end';
          else {
            this.remaining = size;
            this.chunkState = 'data';
          }
        } else if (this.chunkState === 'data') this.chunkState = 'size';
        else if (this.chunkState === 'end' && line === '') this.done();
        continue;
      }
      const take = Math.min(this.remaining, n - at);
      if (this.status !== 200 && this.bodyBytes < 65536) this.kept.push(Buffer.from(buf.subarray(at, at + take)));
      this.bodyBytes += take;
      this.remaining -= take;
      at += take;
      if (this.remaining === 0 && !this.chunked) this.done();
    }
  }

  done() {
    const p = this.pending;
    this.pending = null;
    this.remaining = -1;
    p?.resolve({
      status: this.status,
      bytes: this.bodyBytes,
      body: this.kept.length ? Buffer.concat(this.kept) : null,
    });
  }

  fail(e) {
    const p = this.pending;
    this.pending = null;
    if (p) p.reject(e);
  }

  close() {
    this.socket.destroy();
  }
}

/**
 * @param {{url: string, headers?: Record<string,string>, body: Buffer, users: number, seconds: number,
 *          maxRequests?: number, graceMs?: number, expectBytes?: number}} o
 */
async function runHttpLoad(o) {
  const target = new URL(o.url);
  const headers = { host: `${target.hostname}:${target.port}`, ...o.headers, 'content-length': o.body.length };
  const head = `POST ${target.pathname}${target.search} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  const request = Buffer.concat([Buffer.from(head, 'latin1'), o.body]);
  const maxRequests = o.maxRequests ?? Infinity;
  const graceMs = o.graceMs ?? 30_000;
  const counts = {
    sent: 0,
    ok: 0,
    okInWindow: 0,
    status429: 0,
    queueFull: 0,
    deadline: 0,
    otherStatus: 0,
    errors: 0,
    unanswered: 0,
  };
  const statuses = {};
  const latencies = [];
  let wrongSize = 0;
  let firstError = null;
  const t0 = Date.now();
  const windowEnd = t0 + o.seconds * 1000;
  let stopped = false;
  const connections = new Set();

  const user = async () => {
    let conn = null;
    while (Date.now() < windowEnd && counts.sent < maxRequests && !stopped) {
      conn ??= new Connection(target.hostname, Number(target.port));
      connections.add(conn);
      counts.sent++;
      const started = performance.now();
      try {
        const r = await conn.send(request);
        const ms = performance.now() - started;
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status === 200) {
          counts.ok++;
          if (Date.now() <= windowEnd) counts.okInWindow++;
          latencies.push(ms);
          if (o.expectBytes !== undefined && r.bytes !== o.expectBytes) wrongSize++;
        } else if (r.status === 429) {
          counts.status429++;
          let reason;
          try {
            reason = JSON.parse(r.body?.toString() ?? '{}').reason;
          } catch {
            reason = undefined;
          }
          if (reason === 'deadline') counts.deadline++;
          else counts.queueFull++;
        } else {
          counts.otherStatus++;
          firstError ??= `HTTP ${r.status}: ${r.body?.toString().slice(0, 300) ?? ''}`;
        }
      } catch (e) {
        if (stopped) counts.unanswered++;
        else {
          counts.errors++;
          firstError ??= e.message;
        }
        connections.delete(conn);
        conn.close();
        conn = null;
      }
    }
    if (conn) {
      connections.delete(conn);
      conn.close();
    }
  };
  let usersDoneAt = 0;
  const users = Promise.all(Array.from({ length: o.users }, user)).then(() => (usersDoneAt = Date.now()));
  // The window closes when the time is up or every request was sent; stragglers get graceMs.
  let timer;
  await Promise.race([users, new Promise((r) => (timer = setTimeout(r, o.seconds * 1000 + graceMs)))]);
  clearTimeout(timer);
  stopped = true;
  for (const c of connections) c.fail(new Error('unanswered at the end of the run'));
  await users;
  // The window: until the time was up, or until the last request sent within it was answered.
  const windowS = Math.min(o.seconds, (usersDoneAt - t0) / 1000);
  latencies.sort((a, b) => a - b);
  return {
    users: o.users,
    windowS: round(windowS),
    ...counts,
    statuses,
    wrongSize,
    throughput: round(counts.okInWindow / windowS),
    latencyMs: {
      p50: round(pct(latencies, 50), 2),
      p95: round(pct(latencies, 95), 2),
      p99: round(pct(latencies, 99), 2),
      max: round(latencies.at(-1) ?? NaN, 2),
    },
    firstError,
    // sent = ok + 429 + other + errors + unanswered, always
    accounted: counts.sent === counts.ok + counts.status429 + counts.otherStatus + counts.errors + counts.unanswered,
  };
}

module.exports = { runHttpLoad, pct, round };
