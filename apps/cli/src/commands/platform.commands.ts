import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Deployment, GpuLeases } from '@cvp/sdk';
import type { CliContext } from '../context';
import { UsageError } from '../output/errors';
import { age, bytes, duration, ms, shortId } from '../output/format';
import { confirm, readStdin } from '../prompt';
import { act, num, oneOf, type Registry } from './command';
import { printVerdict } from './pipeline.commands';

const ROLES = ['admin', 'engineer', 'viewer'] as const;

function deploymentsTable(ctx: CliContext, items: Deployment[]): void {
  ctx.printer.table(
    items,
    [
      { header: 'ID', value: (d) => d.id },
      { header: 'MODEL', value: (d) => `${shortId(d.modelId)} v${d.modelVersion}` },
      { header: 'ENGINE', value: (d) => (d.requestedEngine === 'selected' ? `${d.engine} (selected)` : d.engine) },
      {
        header: 'OPTIONS',
        value: (d) =>
          `${d.options.provider}/${d.options.precision}/${d.options.graphOptimization}/b${d.options.maxBatch}`,
      },
      {
        header: 'STATE',
        value: (d) => d.state,
        color: (t, d, c) => (d.state === 'ready' ? c.green(t) : d.state === 'failed' ? c.red(t) : c.yellow(t)),
      },
      { header: 'AGE', value: (d) => age(d.createdAt), align: 'right' },
    ],
    'no deployments: cvp deploy --model ID',
  );
}

export function leasesView(ctx: CliContext, l: GpuLeases): void {
  const p = ctx.printer;
  p.out(`GPU tokens: ${l.inUse} in use on ${l.pools.length} node(s), ${l.waiters.length} waiting`);
  p.table(
    l.pools,
    [
      { header: 'NODE', value: (n) => n.node },
      { header: 'IN USE', value: (n) => `${n.inUse}/${n.tokens}`, align: 'right' },
      { header: 'WAITING', value: (n) => n.waiting, align: 'right' },
    ],
    'no node has asked for a GPU lease',
  );
  p.out();
  p.table(
    l.holders,
    [
      { header: 'LEASE', value: (h) => h.id },
      { header: 'NODE', value: (h) => h.node },
      { header: 'HOLDER', value: (h) => h.holder },
      { header: 'PRIORITY', value: (h) => h.priority },
      { header: 'FENCING', value: (h) => h.fencingToken, align: 'right' },
      { header: 'HELD', value: (h) => duration(h.ageMs), align: 'right' },
      { header: 'EXPIRES IN', value: (h) => duration(h.expiresInMs), align: 'right' },
    ],
    'no holders',
  );
  if (l.waiters.length) {
    p.out();
    p.table(l.waiters, [
      { header: 'NODE', value: (w) => w.node },
      { header: '#', value: (w) => w.position, align: 'right' },
      { header: 'WAITER', value: (w) => w.holder },
      { header: 'PRIORITY', value: (w) => w.priority },
      { header: 'WAITING', value: (w) => duration(w.waitingMs), align: 'right' },
    ]);
  }
}

export function registerPlatformCommands(program: Command, reg: Registry): void {
  // ---- deployments
  const deployments = program.command('deployments').description('what the data plane serves');
  deployments
    .command('list', { isDefault: true })
    .description('active deployments (all with --all)')
    .option('--model <id>', 'of one model')
    .option('--all', 'include removed, replaced and failed ones')
    .action(
      act(reg, async (ctx, o: { model?: string; all?: boolean }) => {
        const list = await (await ctx.client()).deployments.list({ modelId: o.model, all: o.all ? 'true' : undefined });
        ctx.printer.result(list, () => deploymentsTable(ctx, list));
      }),
    );
  deployments
    .command('show <id>')
    .description('one deployment: engine, options, state, error')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const d = await (await ctx.client()).deployments.get(id);
        ctx.printer.result(d, () =>
          ctx.printer.fields([
            ['id', d.id],
            ['model', `${d.modelId} v${d.modelVersion}`],
            [
              'engine',
              `${d.engine}${d.requestedEngine === 'selected' ? ` (bench's choice, benchmark ${d.benchmarkId})` : ''}`,
            ],
            ['options', JSON.stringify(d.options)],
            ['state', d.state],
            ['error', d.error],
            ['served as', d.servedAs],
            ['gateway route', d.inferUrl],
            ['created', d.createdAt],
          ]),
        );
      }),
    );
  deployments
    .command('delete <id>')
    .alias('undeploy')
    .description('undeploy (in-flight requests finish first)')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const d = await (await ctx.client()).deployments.remove(id);
        ctx.printer.result(d, () => ctx.printer.out(`deployment ${d.id} ${d.state}`));
      }),
    );

  // ---- benchmarks
  const benchmarks = program.command('benchmarks').description('benchmark results and reports');
  benchmarks
    .command('list', { isDefault: true })
    .description('benchmarks, newest first')
    .option('--model <id>', 'of one model')
    .option('--limit <n>', 'at most n', num('--limit', { min: 1, max: 500, int: true }), 20)
    .action(
      act(reg, async (ctx, o: { model?: string; limit: number }) => {
        const list = await (await ctx.client()).benchmarks.list({ modelId: o.model, limit: o.limit });
        ctx.printer.result(list, () =>
          ctx.printer.table(
            list,
            [
              { header: 'ID', value: (b) => b.id },
              { header: 'MODEL', value: (b) => `${shortId(b.modelId)} v${b.modelVersion}` },
              { header: 'STATUS', value: (b) => b.status },
              { header: 'CHOSEN', value: (b) => b.selectedId },
              { header: 'P50', value: (b) => ms(b.selectedP50Ms), align: 'right' },
              { header: 'BASELINE', value: (b) => ms(b.baselineP50Ms), align: 'right' },
              { header: 'AGE', value: (b) => age(b.createdAt), align: 'right' },
            ],
            'no benchmarks: cvp bench --model ID --watch',
          ),
        );
      }),
    );
  benchmarks
    .command('show <id>')
    .description('the verdict in plain words, with p95 per candidate as a chart')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const client = await ctx.client();
        const v = await printVerdict(ctx, client, id);
        if (ctx.json) ctx.printer.printJson(v.simple);
      }),
    );
  benchmarks
    .command('report <id>')
    .description('the full report: JSON on stdout, or a self-contained HTML page with --html FILE')
    .option('--view <view>', 'technical | simple', oneOf('--view', ['technical', 'simple'] as const), 'technical')
    .option('--html <file>', 'write the HTML report here')
    .action(
      act(reg, async (ctx, o: { view: 'technical' | 'simple'; html?: string }, id: string) => {
        const client = await ctx.client();
        if (o.html) {
          const file = path.resolve(ctx.io.cwd, o.html);
          const tmp = `${file}.${process.pid}.tmp`;
          await fs.writeFile(tmp, await client.benchmarks.html(id, o.view));
          await fs.rename(tmp, file);
          ctx.printer.result({ file }, () => ctx.printer.out(`wrote ${file}`));
          return;
        }
        ctx.printer.printJson(
          o.view === 'simple' ? await client.benchmarks.simple(id) : await client.benchmarks.technical(id),
        );
      }),
    );

  // ---- packages
  const packages = program.command('packages').description('deployable bundles');
  packages
    .command('list', { isDefault: true })
    .description('packages, newest first')
    .option('--model <id>', 'of one model')
    .action(
      act(reg, async (ctx, o: { model?: string }) => {
        const list = await (await ctx.client()).packages.list({ modelId: o.model });
        ctx.printer.result(list, () =>
          ctx.printer.table(
            list,
            [
              { header: 'ID', value: (x) => x.id },
              { header: 'MODEL', value: (x) => `${shortId(x.modelId)} v${x.modelVersion}` },
              { header: 'ENGINE', value: (x) => `${x.engine}${x.selected ? ' (selected)' : ''}` },
              { header: 'VARIANT', value: (x) => x.variant },
              { header: 'SIZE', value: (x) => bytes(x.sizeBytes), align: 'right' },
              { header: 'SHA256', value: (x) => shortId(x.sha256, 12) },
              { header: 'AGE', value: (x) => age(x.createdAt), align: 'right' },
            ],
            'no packages: cvp package --model ID --watch',
          ),
        );
      }),
    );
  packages
    .command('download <id>')
    .description('download a bundle (SHA-256 checked before it is renamed into place)')
    .option('-o, --output <path>', 'folder or file', '.')
    .action(
      act(reg, async (ctx, o: { output: string }, id: string) => {
        const f = await (await ctx.client()).packages.download(id, path.resolve(ctx.io.cwd, o.output));
        ctx.printer.result(f, () =>
          ctx.printer.out(`downloaded ${f.file} (${bytes(f.sizeBytes)}, sha256 ${f.sha256}, verified)`),
        );
      }),
    );

  // ---- GPU leases
  const leases = program.command('leases').description('the GPU lease table: holders, waiters, tokens');
  leases
    .command('list', { isDefault: true })
    .description('holders and waiters')
    .action(
      act(reg, async (ctx) => {
        const l = await (await ctx.client()).leases.list();
        ctx.printer.result(l, () => leasesView(ctx, l));
      }),
    );
  leases
    .command('release <leaseId>')
    .description('force-release a lease (admin; its holder learns at its next renew)')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        await (await ctx.client()).leases.forceRelease(id);
        ctx.printer.result({ released: id }, () => ctx.printer.out(`released ${id}`));
      }),
    );

  // ---- users (admin)
  const users = program.command('users').description('accounts (admin)');
  users
    .command('list', { isDefault: true })
    .option('--role <role>', ROLES.join(' | '), oneOf('--role', ROLES))
    .action(
      act(reg, async (ctx, o: { role?: (typeof ROLES)[number] }) => {
        const page = await (await ctx.client()).users.list({ role: o.role, limit: 200 });
        ctx.printer.result(page, () =>
          ctx.printer.table(page.items, [
            { header: 'ID', value: (u) => u.id },
            { header: 'USERNAME', value: (u) => u.username },
            { header: 'ROLE', value: (u) => u.role },
            { header: 'DISABLED', value: (u) => (u.disabled ? 'yes' : 'no') },
            { header: 'LAST LOGIN', value: (u) => age(u.lastLoginAt), align: 'right' },
          ]),
        );
      }),
    );
  users
    .command('create <username>')
    .requiredOption('--role <role>', ROLES.join(' | '), oneOf('--role', ROLES))
    .option('--password-stdin', 'read the password from stdin')
    .option('-p, --password <password>', 'the password (8-72 bytes)')
    .action(
      act(
        reg,
        async (
          ctx,
          o: { role: (typeof ROLES)[number]; password?: string; passwordStdin?: boolean },
          username: string,
        ) => {
          const password =
            o.password ?? (o.passwordStdin ? (await readStdin(ctx.io)).replace(/\r?\n$/, '') : undefined);
          if (!password) throw new UsageError('no password: --password-stdin or --password');
          const u = await (await ctx.client()).users.create({ username, password, role: o.role });
          ctx.printer.result(u, () => ctx.printer.out(`user ${u.username} (${u.role}) created: ${u.id}`));
        },
      ),
    );
  users
    .command('update <id>')
    .option('--role <role>', ROLES.join(' | '), oneOf('--role', ROLES))
    .option('--disable', 'refuse its logins and tokens')
    .option('--enable', 'allow it again')
    .option('--password-stdin', 'set a new password read from stdin')
    .action(
      act(
        reg,
        async (
          ctx,
          o: { role?: (typeof ROLES)[number]; disable?: boolean; enable?: boolean; passwordStdin?: boolean },
          id: string,
        ) => {
          const body = {
            ...(o.role ? { role: o.role } : {}),
            ...(o.disable ? { disabled: true } : o.enable ? { disabled: false } : {}),
            ...(o.passwordStdin ? { password: (await readStdin(ctx.io)).replace(/\r?\n$/, '') } : {}),
          };
          if (!Object.keys(body).length)
            throw new UsageError('nothing to change: --role, --disable, --enable or --password-stdin');
          const u = await (await ctx.client()).users.update(id, body);
          ctx.printer.result(u, () =>
            ctx.printer.out(`user ${u.username}: role ${u.role}${u.disabled ? ', disabled' : ''}`),
          );
        },
      ),
    );
  users
    .command('delete <id>')
    .option('-y, --yes', 'do not ask')
    .action(
      act(reg, async (ctx, o: { yes?: boolean }, id: string) => {
        if (!o.yes && !(await confirm(ctx.io, `delete user ${id}?`)))
          throw new UsageError('not confirmed: pass --yes to delete without a question');
        await (await ctx.client()).users.remove(id);
        ctx.printer.result({ deleted: id }, () => ctx.printer.out(`deleted user ${id}`));
      }),
    );

  // ---- API keys (admin)
  const keys = program.command('api-keys').description('inference API keys (admin)');
  keys.command('list', { isDefault: true }).action(
    act(reg, async (ctx) => {
      const page = await (await ctx.client()).apiKeys.list({ limit: 200 });
      ctx.printer.result(page, () =>
        ctx.printer.table(page.items, [
          { header: 'ID', value: (k) => k.id },
          { header: 'NAME', value: (k) => k.name },
          { header: 'PREFIX', value: (k) => k.prefix },
          { header: 'SCOPE', value: (k) => k.scope },
          { header: 'LAST USED', value: (k) => age(k.lastUsedAt), align: 'right' },
          { header: 'REVOKED', value: (k) => (k.revokedAt ? 'yes' : 'no') },
        ]),
      );
    }),
  );
  keys
    .command('create <name>')
    .description('a key with scope infer; shown once')
    .action(
      act(reg, async (ctx, _o, name: string) => {
        const k = await (await ctx.client()).apiKeys.create(name);
        ctx.printer.result(k, () => {
          ctx.printer.out(k.key);
          ctx.printer.err(
            ctx.printer.c.dim(`key ${k.id} (${k.scope}): shown once; use it as CVP_TOKEN or a Bearer token`),
          );
        });
      }),
    );
  keys.command('revoke <id>').action(
    act(reg, async (ctx, _o, id: string) => {
      const k = await (await ctx.client()).apiKeys.revoke(id);
      ctx.printer.result(k, () => ctx.printer.out(`revoked key ${k.name} (${k.id})`));
    }),
  );
}
