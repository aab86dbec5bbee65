import path from 'node:path';
import type { Command } from 'commander';
import { CvpApiError, type Dataset, type DatasetReport, type DatasetSummary } from '@cvp/sdk';
import type { CliContext } from '../context';
import { age, bytes } from '../output/format';
import { act, num, oneOf, type Registry } from './command';

const FORMATS = ['yolo', 'imagefolder'] as const;

/** The validation report: splits with counts, then every problem and warning as a table. */
export function printReport(ctx: CliContext, r: DatasetReport): void {
  const p = ctx.printer;
  const splits = Object.entries(r.splits ?? {});
  if (splits.length) {
    p.table(
      splits,
      [
        { header: 'SPLIT', value: ([name]) => name },
        { header: 'IMAGES', value: ([, s]) => s.images, align: 'right' },
        { header: 'LABELS', value: ([, s]) => s.labels, align: 'right' },
        {
          header: 'PER CLASS',
          value: ([, s]) =>
            Object.entries(s.perClass)
              .map(([k, v]) => `${k}:${v}`)
              .join(' '),
        },
      ],
      'no splits',
    );
  }
  const rows = [
    ...r.problems.map((x) => ({ level: 'problem', ...x })),
    ...r.warnings.map((x) => ({ level: 'warning', ...x })),
  ];
  if (rows.length) {
    p.out();
    p.table(rows, [
      {
        header: 'LEVEL',
        value: (x) => x.level,
        color: (t, x, c) => (x.level === 'problem' ? c.red(t) : c.yellow(t)),
      },
      { header: 'FILE', value: (x) => x.file },
      { header: 'LINE', value: (x) => x.line, align: 'right' },
      { header: 'MESSAGE', value: (x) => x.message },
    ]);
  }
  if (r.problemsTruncated) p.out(p.c.dim(`… and ${r.problemsTruncated} more problems`));
  p.out(
    r.valid
      ? p.c.green(`✔ valid: ${r.images} images, classes ${r.classes.join(', ') || '-'}`)
      : p.c.red(
          `✖ rejected: ${r.problems.length + r.problemsTruncated} problem(s); the set cannot be used for training`,
        ),
  );
}

function datasetsTable(ctx: CliContext, items: DatasetSummary[]): void {
  ctx.printer.table(
    items,
    [
      { header: 'ID', value: (d) => d.id },
      { header: 'NAME', value: (d) => d.name },
      { header: 'FORMAT', value: (d) => d.format },
      {
        header: 'VALID',
        value: (d) => (d.valid ? 'yes' : 'no'),
        color: (t, d, c) => (d.valid ? c.green(t) : c.red(t)),
      },
      { header: 'CLASSES', value: (d) => d.classes.length, align: 'right' },
      { header: 'SIZE', value: (d) => bytes(d.size), align: 'right' },
      { header: 'AGE', value: (d) => age(d.createdAt), align: 'right' },
    ],
    'no data sets: cvp datasets upload FILE.zip --format yolo',
  );
}

function printDataset(ctx: CliContext, d: Dataset): void {
  ctx.printer.fields([
    ['id', d.id],
    ['name', d.name],
    ['format', d.format],
    ['valid', d.valid ? 'yes' : 'no'],
    ['classes', d.classes.join(', ')],
    ['size', bytes(d.size)],
    ['sha256', d.sha256],
  ]);
  ctx.printer.out();
  printReport(ctx, d.report);
}

export function registerDatasetCommands(program: Command, reg: Registry): void {
  const datasets = program.command('datasets').description('upload and inspect data sets (zip)');

  datasets
    .command('upload <zip>')
    .description('upload a zip (YOLO or imagefolder); prints its validation report')
    .requiredOption('--format <format>', FORMATS.join(' | '), oneOf('--format', FORMATS))
    .option('--name <name>', 'display name (default: the file name)')
    .action(
      act(reg, async (ctx, o: { format: 'yolo' | 'imagefolder'; name?: string }, zip: string) => {
        const abs = path.resolve(ctx.io.cwd, zip);
        ctx.printer.note(`uploading ${abs}…`);
        try {
          const d = await (await ctx.client()).datasets.upload(abs, { format: o.format, name: o.name });
          ctx.printer.result(d, () => printDataset(ctx, d));
        } catch (e) {
          // A rejected set is kept with its report: show the report, then the error as usual.
          const report = e instanceof CvpApiError ? (e.problem.report as DatasetReport | undefined) : undefined;
          if (report && !ctx.json) {
            if (typeof e === 'object' && e && 'problem' in e && (e as CvpApiError).problem.datasetId)
              ctx.printer.out(`data set ${(e as CvpApiError).problem.datasetId as string} (kept with its report)`);
            printReport(ctx, report);
          }
          throw e;
        }
      }),
    );

  datasets
    .command('list', { isDefault: true })
    .description('data sets, newest first')
    .option('--valid <bool>', 'true | false', oneOf('--valid', ['true', 'false'] as const))
    .option('--format <format>', FORMATS.join(' | '), oneOf('--format', FORMATS))
    .option('--limit <n>', 'at most n (1-200)', num('--limit', { min: 1, max: 200, int: true }), 50)
    .option('--page <n>', 'page number', num('--page', { min: 1, int: true }), 1)
    .action(
      act(
        reg,
        async (ctx, o: { valid?: 'true' | 'false'; format?: 'yolo' | 'imagefolder'; limit: number; page: number }) => {
          const page = await (await ctx.client()).datasets.list(o);
          ctx.printer.result(page, () => datasetsTable(ctx, page.items));
        },
      ),
    );

  datasets
    .command('show <id>')
    .description('one data set with its validation report')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const d = await (await ctx.client()).datasets.get(id);
        ctx.printer.result(d, () => printDataset(ctx, d));
      }),
    );
}
