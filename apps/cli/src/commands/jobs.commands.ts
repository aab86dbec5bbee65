import type { Command } from 'commander';
import type { CvpClient, Job, JobInputs, JobType } from '@cvp/sdk';
import type { CliContext } from '../context';
import { EXIT } from '../output/exit-codes';
import { age, duration, percent, shortId } from '../output/format';
import { exitForJob, watchJob } from '../watch/watch-job';
import { act, num, oneOf, type Registry } from './command';

const JOB_TYPES = ['convert', 'train', 'tune', 'bench', 'package'] as const;
const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

const inputModel = (j: Job) => (j.input as { modelId?: string }).modelId;

/** The one-line story of a finished job, and what it made. */
export function printJobOutcome(ctx: CliContext, job: Job): void {
  const p = ctx.printer;
  const took =
    job.startedAt && job.finishedAt ? ` in ${duration(Date.parse(job.finishedAt) - Date.parse(job.startedAt))}` : '';
  if (job.state === 'succeeded') {
    p.out(`${p.c.green('✔')} ${job.type} ${job.id} succeeded${took}`);
    const r = (job.result ?? {}) as Record<string, unknown>;
    const facts: [string, unknown][] = [
      ['model', r.modelId],
      ['version', r.version ?? r.modelVersion],
      ['benchmark', r.benchmarkId],
      ['package', r.packageId],
      ['trials', Array.isArray(r.trials) ? r.trials.length : r.trials],
    ];
    for (const [k, v] of facts) if (v !== undefined && v !== null) p.out(`  ${p.c.dim(k.padEnd(9))} ${String(v)}`);
  } else {
    const icon = job.state === 'cancelled' ? p.c.magenta('■') : p.c.red('✖');
    p.out(`${icon} ${job.type} ${job.id} ${job.state}${took}${job.error ? `: ${job.error}` : ''}`);
    if (job.state === 'failed') p.out(`  ${p.c.cyan('→')} details: cvp jobs show ${job.id}`);
  }
}

/**
 * What a command does once its job succeeded (show the verdict, download the bundle): human
 * output itself, and for --json the fields printed beside the job ({job, ...json}).
 */
export type AfterJob = (client: CvpClient, job: Job) => Promise<{ code?: number; json?: Record<string, unknown> }>;

/** Starts a job; with --watch follows it to the end (exit code from its outcome). */
export async function startJob<T extends JobType>(
  ctx: CliContext,
  type: T,
  input: JobInputs[T],
  watch: boolean,
  after?: AfterJob,
): Promise<number> {
  const client = await ctx.client();
  const job = await client.jobs.create(type, input);
  return followJob(ctx, client, job, watch, after);
}

export async function followJob(
  ctx: CliContext,
  client: CvpClient,
  job: Job,
  watch: boolean,
  after?: AfterJob,
): Promise<number> {
  const p = ctx.printer;
  if (!watch) {
    p.result(job, () => {
      p.out(`${job.type} job ${job.id} ${job.state}`);
      p.out(p.c.dim(`  follow it: cvp jobs watch ${job.id}`));
    });
    return EXIT.ok;
  }
  const { job: final, code } = await watchJob(ctx, client, job);
  if (code === EXIT.interrupted) return code;
  if (!ctx.json) printJobOutcome(ctx, final);
  const extra = final.state === 'succeeded' && after ? await after(client, final) : undefined;
  if (ctx.json) p.printJson(after ? { job: final, ...extra?.json } : final);
  return extra?.code !== undefined && extra.code !== EXIT.ok ? extra.code : code;
}

export function jobsTable(ctx: CliContext, jobs: Job[]): void {
  ctx.printer.table(
    jobs,
    [
      { header: 'ID', value: (j) => j.id },
      { header: 'TYPE', value: (j) => j.type },
      {
        header: 'STATE',
        value: (j) => j.state,
        color: (t, j, c) =>
          ({ succeeded: c.green, failed: c.red, cancelled: c.magenta, running: c.cyan, queued: c.yellow })[j.state](t),
      },
      { header: 'PROGRESS', value: (j) => percent(j.progress), align: 'right' },
      { header: 'STAGE', value: (j) => j.stage },
      { header: 'MODEL', value: (j) => shortId(inputModel(j)) },
      { header: 'AGE', value: (j) => age(j.createdAt), align: 'right' },
    ],
    'no jobs',
  );
}

export function registerJobCommands(program: Command, reg: Registry): void {
  const jobs = program.command('jobs').description('list, inspect, follow and cancel jobs');

  jobs
    .command('list', { isDefault: true })
    .description('jobs, newest first')
    .option('--type <type>', `one of ${JOB_TYPES.join(', ')}`, oneOf('--type', JOB_TYPES))
    .option('--state <state>', `one of ${JOB_STATES.join(', ')}`, oneOf('--state', JOB_STATES))
    .option('--limit <n>', 'at most n (1-200)', num('--limit', { min: 1, max: 200, int: true }), 20)
    .option('--page <n>', 'page number', num('--page', { min: 1, int: true }), 1)
    .action(
      act(reg, async (ctx, o: { type?: JobType; state?: Job['state']; limit: number; page: number }) => {
        const page = await (await ctx.client()).jobs.list(o);
        ctx.printer.result(page, () => {
          jobsTable(ctx, page.items);
          if (page.total > page.items.length)
            ctx.printer.out(ctx.printer.c.dim(`${page.items.length} of ${page.total}; --page/--limit for more`));
        });
      }),
    );

  jobs
    .command('show <id>')
    .description('one job: state, progress, input, result, error')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const job = await (await ctx.client()).jobs.get(id);
        const p = ctx.printer;
        p.result(job, () => {
          p.fields([
            ['id', job.id],
            ['type', job.type],
            ['state', job.state],
            ['progress', percent(job.progress)],
            ['stage', job.stage],
            ['attempts', job.attempts],
            ['created', job.createdAt],
            ['started', job.startedAt],
            ['finished', job.finishedAt],
            ['error', job.error],
          ]);
          p.out(p.c.dim('input'));
          p.out(JSON.stringify(job.input, null, 2));
          if (job.result) {
            p.out(p.c.dim('result'));
            p.out(JSON.stringify(job.result, null, 2));
          }
        });
        return EXIT.ok;
      }),
    );

  jobs
    .command('watch <id>')
    .description('follow a job until it ends (exit 0 succeeded, 10 failed, 11 cancelled)')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const client = await ctx.client();
        return followJob(ctx, client, await client.jobs.get(id), true);
      }),
    );

  jobs
    .command('events <id>')
    .description("the job's events as JSON lines, history first, until it ends (for scripts)")
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const client = await ctx.client();
        for await (const e of client.jobs.events(id)) ctx.printer.out(JSON.stringify(e));
        return exitForJob(await client.jobs.get(id));
      }),
    );

  jobs
    .command('cancel <id>')
    .description('cancel a queued or running job (its processes stop, its GPU lease is released)')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const job = await (await ctx.client()).jobs.cancel(id);
        ctx.printer.result(job, () => ctx.printer.out(`${job.type} job ${job.id} ${job.state}`));
      }),
    );
}
