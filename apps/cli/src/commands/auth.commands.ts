import type { Command } from 'commander';
import { sessionFromTokens } from '@cvp/sdk';
import type { CliContext } from '../context';
import { UsageError } from '../output/errors';
import { ask, askHidden, readStdin } from '../prompt';
import { act, type Registry } from './command';

interface LoginOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

async function login(ctx: CliContext, o: LoginOptions): Promise<void> {
  const { io, printer: p } = ctx;
  const url = await ctx.url();
  const interactive = !!io.stdin.isTTY && !o.passwordStdin;
  const username = o.username ?? io.env.CVP_USERNAME ?? (interactive ? await ask(io, 'username: ') : undefined);
  if (!username) throw new UsageError('no username: pass --username (or set CVP_USERNAME)');
  let password = o.password ?? (o.passwordStdin ? (await readStdin(io)).replace(/\r?\n$/, '') : undefined);
  password ??= io.env.CVP_PASSWORD || undefined;
  if (password === undefined && interactive) password = await askHidden(io, `password for ${username}: `);
  if (!password) throw new UsageError('no password: pipe it to --password-stdin (or set CVP_PASSWORD)');

  const pair = await (await ctx.anonymousClient()).auth.login(username, password);
  const session = sessionFromTokens(url, username, pair);
  await ctx.sessions.save(session);
  // The role comes from the gateway itself, through the saved (now current) session.
  const me = await (await ctx.client()).auth.me();
  await ctx.sessions.save({ ...session, role: me.role });
  const out = {
    url,
    username: me.name,
    role: me.role,
    accessExpiresAt: session.accessExpiresAt,
    refreshExpiresAt: session.refreshExpiresAt,
    sessionFile: ctx.sessions.file,
  };
  p.result(out, () => {
    p.out(`${p.c.green('✓')} logged in to ${url} as ${me.name} (${me.role})`);
    p.out(p.c.dim(`  session in ${ctx.sessions.file} (mode 0600), refreshed by itself until ${out.refreshExpiresAt}`));
  });
}

export function registerAuthCommands(program: Command, reg: Registry): void {
  program
    .command('login')
    .description('log in and keep a self-refreshing session in the config dir (0600)')
    .option('-u, --username <name>', 'account name (or CVP_USERNAME; asked on a terminal)')
    .option('--password-stdin', 'read the password from stdin (for scripts)')
    .option(
      '-p, --password <password>',
      'the password (visible to other users of this machine: prefer --password-stdin)',
    )
    .action(act(reg, login));

  program
    .command('logout')
    .description('forget the saved session')
    .action(
      act(reg, async (ctx) => {
        const had = await ctx.sessions.load();
        await ctx.sessions.save(null);
        const p = ctx.printer;
        p.result({ loggedOut: !!had, url: had?.url ?? null }, () =>
          p.out(had ? `logged out of ${had.url} (${had.username})` : 'no saved session'),
        );
      }),
    );

  program
    .command('whoami')
    .description('who the current credentials belong to')
    .action(
      act(reg, async (ctx) => {
        const url = await ctx.url();
        const { source } = await ctx.auth(url);
        const me = await (await ctx.client()).auth.me();
        const session = source === 'session' ? await ctx.sessions.load() : null;
        const out = { url, source, ...me, ...(session ? { refreshExpiresAt: session.refreshExpiresAt } : {}) };
        const p = ctx.printer;
        p.result(out, () =>
          p.fields([
            ['gateway', url],
            ['name', me.name],
            ['role', me.role],
            ['kind', me.kind],
            ['credentials', source === 'token' ? 'token (--token / CVP_TOKEN)' : `session (${ctx.sessions.file})`],
            ...(session ? ([['session until', session.refreshExpiresAt]] as [string, string][]) : []),
          ]),
        );
      }),
    );
}
