/**
 * Copies the gateway's database to another engine, with every gateway stopped:
 *   node -r ./scripts/register-paths.js dist/apps/gateway/src/cli/copy-database.js \
 *     --from var --to postgres://cvp:<password>@db:5432/cvp
 * Each side is a postgres:// URL or a data dir holding gateway.sqlite. Both are migrated to this
 * release first; the target must be empty. Prints the rows copied per table; exit 1 on failure,
 * with the target left empty.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { copyDatabase } from '../database/database-copy';
import { dataSourceOptions, openDatabase } from '../database/data-source';

const isUrl = (s: string) => /^postgres(ql)?:\/\//.test(s);
const settings = (where: string) => (isUrl(where) ? { CVP_DATA_DIR: '.', CVP_DB_URL: where } : { CVP_DATA_DIR: where });
/** What to print of a location: never a password. */
const shown = (where: string) => (isUrl(where) ? where.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') : where);

export async function copyDatabaseCli(
  argv: string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<Record<string, number>> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (!v) throw new Error(`usage: copy-database --from <data dir | postgres URL> --to <data dir | postgres URL>`);
    return v;
  };
  const [from, to] = [arg('--from'), arg('--to')];
  if (!isUrl(from) && !existsSync(path.join(from, 'gateway.sqlite')))
    throw new Error(`no gateway.sqlite in ${from}: --from takes the gateway's data dir or a postgres:// URL`);
  const source = await openDatabase(dataSourceOptions(settings(from)));
  try {
    const target = await openDatabase(dataSourceOptions(settings(to)));
    try {
      out(`copying ${shown(from)} -> ${shown(to)}`);
      const counts = await copyDatabase(source, target, out);
      out(`done: ${Object.values(counts).reduce((a, b) => a + b, 0)} rows in ${Object.keys(counts).length} tables`);
      return counts;
    } finally {
      await target.destroy();
    }
  } finally {
    await source.destroy();
  }
}

if (require.main === module) {
  copyDatabaseCli(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`copy-database failed: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
