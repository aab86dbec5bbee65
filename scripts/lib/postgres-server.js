'use strict';
// A real PostgreSQL server from Debian's packages in a scratch dir, for tests and the chaos run:
// initdb + pg_ctl as an unprivileged user, loopback only, trust auth for the `cvp` role.
const { execFile, execFileSync, spawnSync } = require('node:child_process');
const { promisify } = require('node:util');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./ports');

const execFileAsync = promisify(execFile);
const SUPERUSER = 'cvp';
const INSTALL_CMD = 'apt-get install -y --no-install-recommends postgresql';

/** Newest /usr/lib/postgresql/<major>/bin holding initdb and pg_ctl (CVP_PG_BINDIR overrides). */
function findPgBinDir() {
  const own = process.env.CVP_PG_BINDIR;
  if (own) return fs.existsSync(path.join(own, 'pg_ctl')) ? own : null;
  const base = '/usr/lib/postgresql';
  const majors = fs.existsSync(base)
    ? fs
        .readdirSync(base)
        .filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(base, v, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return majors.length ? path.join(base, majors[0], 'bin') : null;
}

/**
 * How the server's commands run. PostgreSQL refuses to run as root, so root runs them as the
 * `postgres` system user the Debian package creates; anyone else runs them as themselves.
 */
function serverUser() {
  if (process.getuid?.() !== 0) return null;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      'PostgreSQL refuses to run as root and there is no `postgres` user to run it as. Run as root:\n' +
        `  apt-get update && ${INSTALL_CMD}`,
    );
  return { name: 'postgres', uid: Number(r.stdout.trim()) };
}

/** Fails with the exact command to run when the server binaries are missing. */
function requirePostgres() {
  const bin = findPgBinDir();
  if (bin) return bin;
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  const where = process.env.CVP_PG_BINDIR ? `CVP_PG_BINDIR=${process.env.CVP_PG_BINDIR}` : '/usr/lib/postgresql/*/bin';
  throw new Error(
    `PostgreSQL server binaries not found (looked in ${where}; CVP_PG_BINDIR overrides). ` +
      `Install them with:\n  ${sudo}apt-get update && ${sudo}${INSTALL_CMD}\n` +
      '(scripts/bootstrap.sh does this when it runs as root)',
  );
}

/** Settings for a throwaway test server: no fsync (an OS crash is not a case tests cover), room for pools. */
const TEST_SETTINGS = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '200',
  shared_buffers: '32MB',
};

/**
 * Starts a PostgreSQL server in `dir` (created, owned by the server's user; data in dir/data, the
 * log in dir/postgres.log), listening on 127.0.0.1 only. When run as root the server runs as
 * `postgres`, so `dir` must lie where that user can reach it (the default, under the temp dir, does).
 * The returned handle can stop and start the same data dir on the same port, which is what a
 * database restart looks like to its clients.
 *
 * @param {{dir?: string, port?: number, settings?: Record<string,string>, startTimeoutS?: number}} [opts]
 */
async function startPostgresServer(opts = {}) {
  const bin = requirePostgres();
  const user = serverUser();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-pg-'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (user) fs.chownSync(dir, user.uid, -1);
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  let port = opts.port ?? (await freePort());
  const timeoutS = String(opts.startTimeoutS ?? 60);
  const settings = { ...TEST_SETTINGS, ...opts.settings };

  // Asynchronous, so a process that restarts its own database keeps serving while it waits.
  const run = async (cmd, args, what) => {
    const [file, argv] = user
      ? ['runuser', ['-u', user.name, '--', path.join(bin, cmd), ...args]]
      : [path.join(bin, cmd), args];
    try {
      await execFileAsync(file, argv, { encoding: 'utf8', timeout: 120_000 });
    } catch (e) {
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw new Error(
        `${what} failed (${e.code ?? e.signal ?? e.message}): ${e.stderr ?? ''}${e.stdout ?? ''}\n${log}`,
      );
    }
  };

  const initialized = fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  // A failed start leaves nothing behind that this call made.
  const cleanUp = () => {
    if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
    else if (!initialized) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  if (!initialized)
    await run(
      'initdb',
      ['-D', dataDir, '-A', 'trust', '-U', SUPERUSER, '-E', 'UTF8', '--no-locale', '--no-sync'],
      'initdb',
    ).catch((e) => {
      cleanUp();
      throw e;
    });

  // TCP on loopback only: no Unix socket, whose path would be bound by the length of `dir`.
  const serverOpts = () =>
    [
      `-p ${port}`,
      "-c unix_socket_directories=''",
      '-c listen_addresses=127.0.0.1',
      ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
    ].join(' ');
  let running = false;
  const start = async () => {
    if (running) return;
    try {
      await run(
        'pg_ctl',
        ['-D', dataDir, '-l', logFile, '-o', serverOpts(), '-w', '-t', timeoutS, 'start'],
        'pg_ctl start',
      );
    } catch (e) {
      // A server that was still coming up when pg_ctl gave up must not outlive this call.
      await run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], 'pg_ctl stop').catch(() => undefined);
      throw e;
    }
    running = true;
  };
  /** mode: fast (roll back open transactions, disconnect clients), immediate (no clean shutdown: a crash). */
  const stop = async (mode = 'fast') => {
    if (!running) return;
    await run('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', timeoutS, 'stop'], 'pg_ctl stop');
    running = false;
  };
  // A port picked here can be taken by another process before the server binds it: pick again.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (e) {
      if (opts.port !== undefined || attempt >= 3 || !/could not bind|already in use/i.test(e.message)) {
        cleanUp();
        throw e;
      }
      port = await freePort();
    }
  }

  const host = '127.0.0.1';
  const urlFor = (database) => `postgres://${SUPERUSER}@${host}:${port}/${encodeURIComponent(database)}`;
  return {
    host,
    port,
    dir,
    dataDir,
    logFile,
    /** Connection URL of a database on this server. */
    urlFor,
    /** The maintenance database's URL (postgres). */
    adminUrl: urlFor('postgres'),
    /** Creates an empty database (from template0) and returns its URL; an existing one is kept. */
    createDatabase: (name) => ensureDatabase(urlFor('postgres'), name),
    dropDatabase: (name) => dropDatabase(urlFor('postgres'), name),
    isRunning: () => running,
    start,
    stop,
    /** Stops and starts the same data dir on the same port; clients see their connections drop. */
    async restart(mode = 'fast') {
      await stop(mode);
      await start();
    },
    /** Stops the server and removes its dir (unless keepDir). */
    async destroy({ keepDir = false } = {}) {
      try {
        await stop('immediate');
      } finally {
        if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function adminQuery(adminUrl, sql, params) {
  const { Client } = require('pg');
  const c = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

function quoteDatabaseName(name) {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** URL of `database` on the server `url` points at. */
function databaseUrl(url, database) {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/**
 * Creates an empty database (from template0) on the server of `adminUrl` unless it exists, and
 * returns its URL.
 */
async function ensureDatabase(adminUrl, name) {
  const quoted = quoteDatabaseName(name);
  const exists = await adminQuery(adminUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (!exists.rowCount) {
    try {
      await adminQuery(adminUrl, `CREATE DATABASE ${quoted} TEMPLATE template0`);
    } catch (e) {
      if (e.code !== '42P04') throw e; // made by a concurrent caller: the same outcome
    }
  }
  return databaseUrl(adminUrl, name);
}

async function dropDatabase(adminUrl, name) {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${quoteDatabaseName(name)} WITH (FORCE)`);
}

/** `pg_dump` / `psql` of the same major as the server, for backup and restore tests. */
function pgTool(name) {
  const bin = findPgBinDir();
  const p = bin && path.join(bin, name);
  if (p && fs.existsSync(p)) return p;
  return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
}

module.exports = { startPostgresServer, ensureDatabase, dropDatabase, databaseUrl, findPgBinDir, pgTool, INSTALL_CMD };
