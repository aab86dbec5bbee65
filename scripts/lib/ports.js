'use strict';
// Port helpers shared by the supervisor, the jest global setup and the benchmark scripts.
const net = require('node:net');

/** Asks the kernel for a free loopback port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True when a loopback listener can bind this port now. */
function canBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * `n` free loopback ports below the kernel's range for outgoing connections' local ports (Linux:
 * /proc/sys/net/ipv4/ip_local_port_range), 11 apart from a random start. For a caller that
 * starts many processes before the last of them binds: a port from freePort() lies inside that
 * range, so meanwhile it can become the local port of one of their outgoing connections, and a
 * probe of it can even connect to itself. Falls back to freePort() where there is no room below.
 */
async function freePortsBelowEphemeral(n) {
  let low = 32768;
  try {
    low = Number(
      require('node:fs').readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
  } catch {
    /* not Linux: the usual default */
  }
  const out = [];
  if (low > 12000) {
    let port = 10000 + Math.floor(Math.random() * (low - 10000 - 11 * 20 * n));
    for (let tries = 0; out.length < n && tries < 20 * n && port < low; tries++, port += 11)
      if (await canBind(port)) out.push(port);
  }
  while (out.length < n) out.push(await freePort());
  return out;
}

/** True when something accepts TCP connections on host:port. */
function isPortOpen(port, host = '127.0.0.1', timeoutMs = 500) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (open) => {
      sock.destroy();
      resolve(open);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Polls `probe` until it resolves truthy; bounded by timeoutMs. */
async function waitFor(probe, { timeoutMs = 30000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

module.exports = { freePort, freePortsBelowEphemeral, isPortOpen, waitFor };
