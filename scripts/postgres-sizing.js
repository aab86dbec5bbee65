#!/usr/bin/env node
'use strict';
/**
 * Disk per row of the gateway tables that grow with use, on a real PostgreSQL server with the
 * gateway's own migrations: fills audit_log, job_events and jobs with rows shaped like the ones the
 * gateway writes, then reads pg_total_relation_size (heap, TOAST and indexes) after VACUUM.
 * Writes bench/results/postgres-sizing.json; the deploy guide's sizing figures come from it.
 *
 *   node scripts/postgres-sizing.js [--rows 100000]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
require(path.join(root, 'libs/jobs/src/testing/register-ts.js'));
const { startPostgresServer } = require('./lib/postgres-server');
const { dataSourceOptions, openDatabase } = require(path.join(root, 'apps/gateway/src/database/data-source.ts'));

const argv = process.argv.slice(2);
const rowsArg = argv.indexOf('--rows');
const N = rowsArg >= 0 ? Number(argv[rowsArg + 1]) : 100_000;
if (!Number.isInteger(N) || N < 1000 || N > 5_000_000) throw new Error('--rows: 1000..5000000');

// Shapes of what the gateway writes: ISO-8601 times, uuids, a mutating call's audit row, a
// training progress event, a finished bench job with its input and result.
const FILL = {
  audit_log: `INSERT INTO audit_log (id, at, actor_id, actor_name, actor_kind, action, method, path, target, result, status, correlation_id, detail)
    SELECT gen_random_uuid()::text, to_char(now() + (i || ' ms')::interval, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      gen_random_uuid()::text, 'engineer', 'user', 'ModelsController.upload', 'POST',
      '/api/v1/models/' || gen_random_uuid()::text, gen_random_uuid()::text, 'success', 202, gen_random_uuid()::text, NULL
    FROM generate_series(1, $1::int) i`,
  job_events: `INSERT INTO job_events (job_id, seq, at, payload)
    SELECT md5((i / 100)::text)::uuid::text, i % 100, to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      '{"progress":0.42,"stage":"epoch 12/50","detail":{"epoch":12,"box_loss":1.2345,"cls_loss":0.9876,"mAP50":0.456,"etaS":321}}'
    FROM generate_series(1, $1::int) i`,
  jobs: `INSERT INTO jobs (id, owner_id, type, input, state, attempts, error, progress, stage, result, created_at, started_at, finished_at, updated_at, last_event_seq)
    SELECT gen_random_uuid()::text, gen_random_uuid()::text, 'bench',
      '{"modelId":"' || gen_random_uuid()::text || '","constraints":{"maxP95Ms":500,"maxAccuracyDrop":0.02}}',
      'succeeded', 1, NULL, 1, 'done', '{"benchmarkId":"bm-' || md5(i::text) || '"}',
      '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', '2026-01-01T00:05:00.000Z', '2026-01-01T00:05:00.000Z', 40
    FROM generate_series(1, $1::int) i`,
};

(async () => {
  const pg = await startPostgresServer();
  try {
    const url = await pg.createDatabase('cvp_sizing');
    const ds = await openDatabase(dataSourceOptions({ CVP_DATA_DIR: os.tmpdir(), CVP_DB_URL: url }));
    try {
      const [{ server_version: version }] = await ds.query('SHOW server_version');
      const bytesPerRow = {};
      for (const [table, sql] of Object.entries(FILL)) {
        await ds.query(sql, [N]);
        await ds.query(`VACUUM ANALYZE ${table}`);
        const [{ b }] = await ds.query(`SELECT pg_total_relation_size($1) AS b`, [table]);
        bytesPerRow[table] = Math.round(Number(b) / N);
        console.log(`${table}: ${bytesPerRow[table]} bytes/row with indexes (${N} rows)`);
      }
      const result = {
        at: new Date().toISOString(),
        postgres: version,
        rows: N,
        bytesPerRow,
        perMillion: Object.fromEntries(
          Object.entries(bytesPerRow).map(([t, v]) => [t, `${((v * 1e6) / 1024 ** 3).toFixed(2)} GiB`]),
        ),
        loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
        note: 'pg_total_relation_size after VACUUM ANALYZE: heap, TOAST and every index, divided by the rows inserted',
      };
      const out = path.join(root, 'bench/results/postgres-sizing.json');
      fs.writeFileSync(`${out}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
      fs.renameSync(`${out}.tmp`, out);
      console.log(`written ${path.relative(root, out)}`);
    } finally {
      await ds.destroy();
    }
  } finally {
    await pg.destroy();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
