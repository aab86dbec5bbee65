import type { MigrationInterface, QueryRunner } from 'typeorm';

const REAL_COLUMNS: [table: string, column: string][] = [
  ['jobs', 'progress'],
  ['benchmarks', 'baseline_p50_ms'],
  ['benchmarks', 'selected_p50_ms'],
];

/**
 * `real` is an 8-byte float in SQLite but a 4-byte one in PostgreSQL, which kept only about 7
 * significant digits of latencies there. PostgreSQL's columns become double precision, as SQLite's
 * already are; SQLite needs nothing.
 */
export class PostgresDoublePrecision1764900000000 implements MigrationInterface {
  name = 'PostgresDoublePrecision1764900000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    for (const [t, c] of REAL_COLUMNS) await q.query(`ALTER TABLE "${t}" ALTER COLUMN "${c}" TYPE double precision`);
  }

  async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    for (const [t, c] of REAL_COLUMNS) await q.query(`ALTER TABLE "${t}" ALTER COLUMN "${c}" TYPE real`);
  }
}
