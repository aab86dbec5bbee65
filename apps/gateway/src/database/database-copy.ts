import type { DataSource, QueryRunner } from 'typeorm';

/** Rows per INSERT: far below PostgreSQL's 65535 bind parameters for the widest table. */
const BATCH_ROWS = 500;
const BOOKKEEPING = new Set(['migrations', 'typeorm_metadata']);

async function tableNames(ds: DataSource): Promise<string[]> {
  const rows = (await (ds.options.type === 'postgres'
    ? ds.query(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
      )
    : ds.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`))) as {
    name: string;
  }[];
  return rows
    .map((r) => r.name)
    .filter((n) => !BOOKKEEPING.has(n))
    .sort();
}

const quote = (ds: DataSource, name: string) => ds.driver.escape(name);

function placeholders(ds: DataSource, rows: number, cols: number): string {
  let n = 0;
  const one = () => (ds.options.type === 'postgres' ? `$${++n}` : '?');
  return Array.from({ length: rows }, () => `(${Array.from({ length: cols }, one).join(', ')})`).join(', ');
}

/**
 * Copies every row of the gateway's tables from one database to another (SQLite to PostgreSQL when
 * a team outgrows one box, or back). Both are first brought to this release's schema by the
 * migrations (the caller opens them with openDatabase); the target must be empty. The copy runs in
 * one transaction on the target, table by table in primary-key order, and ends by comparing the
 * row count of every table: a failure leaves the target as empty as it was.
 */
export async function copyDatabase(
  source: DataSource,
  target: DataSource,
  log: (line: string) => void = () => undefined,
): Promise<Record<string, number>> {
  const tables = await tableNames(target);
  const sourceTables = new Set(await tableNames(source));
  for (const t of tables) {
    if (!sourceTables.has(t)) throw new Error(`source database lacks table ${t}: is it a cvp gateway database?`);
    const [{ n }] = (await target.query(`SELECT COUNT(*) AS n FROM ${quote(target, t)}`)) as { n: string }[];
    if (Number(n) > 0) throw new Error(`target table ${t} holds ${n} rows; copy into an empty database only`);
  }

  const counts: Record<string, number> = {};
  const src = source.createQueryRunner();
  const dst: QueryRunner = target.createQueryRunner();
  try {
    await dst.startTransaction();
    for (const t of tables) {
      const [srcTable, dstTable] = [await src.getTable(t), await dst.getTable(t)];
      const sourceColumns = new Set(srcTable!.columns.map((c) => c.name));
      const cols = dstTable!.columns.map((c) => c.name).filter((c) => sourceColumns.has(c));
      const order = (dstTable!.primaryColumns.length ? dstTable!.primaryColumns.map((c) => c.name) : cols)
        .map((c) => quote(source, c))
        .join(', ');
      const select = `SELECT ${cols.map((c) => quote(source, c)).join(', ')} FROM ${quote(source, t)} ORDER BY ${order}`;
      let copied = 0;
      for (;;) {
        const rows = (await src.query(`${select} LIMIT ${BATCH_ROWS} OFFSET ${copied}`)) as Record<string, unknown>[];
        if (!rows.length) break;
        await dst.query(
          `INSERT INTO ${quote(target, t)} (${cols.map((c) => quote(target, c)).join(', ')}) VALUES ${placeholders(target, rows.length, cols.length)}`,
          rows.flatMap((r) => cols.map((c) => r[c])),
        );
        copied += rows.length;
      }
      const [{ n }] = (await dst.query(`SELECT COUNT(*) AS n FROM ${quote(target, t)}`)) as { n: string }[];
      if (Number(n) !== copied) throw new Error(`table ${t}: copied ${copied} rows but the target holds ${n}`);
      counts[t] = copied;
      log(`${t}: ${copied} rows`);
    }
    await dst.commitTransaction();
    return counts;
  } catch (e) {
    if (dst.isTransactionActive) await dst.rollbackTransaction();
    throw e;
  } finally {
    await src.release();
    await dst.release();
  }
}
