import type { Command } from 'commander';
import React from 'react';
import type { CliContext } from '../context';
import { loadInk } from '../ink';
import { UsageError } from '../output/errors';
import { act, num, type Registry } from '../commands/command';
import { DashboardPoller } from './dashboard-data';
import { Dashboard } from './dashboard-view';

// Alternate screen on/off, cursor shown: what a full-screen program must undo on every way out.
const ENTER = '\x1b[?1049h\x1b[H\x1b[2J';
const LEAVE = '\x1b[?25h\x1b[?1049l';

/** The data plane's address: --inference-url, CVP_INFERENCE_URL, else the gateway's host on port 8000. */
export function inferenceUrlFor(gatewayUrl: string, explicit?: string): string {
  if (explicit) return explicit;
  const u = new URL(gatewayUrl);
  u.port = '8000';
  u.pathname = '/';
  return u.origin;
}

async function runTui(ctx: CliContext, o: { interval: number; inferenceUrl?: string }): Promise<void> {
  if (!ctx.io.interactive || !process.stdout.isTTY || !process.stdin.isTTY)
    throw new UsageError('cvp tui needs a terminal (stdin and stdout); for scripts use the other commands with --json');
  const client = await ctx.client();
  const me = await client.auth.me(); // fail before taking over the screen: not logged in, unreachable
  const url = await ctx.url();
  const poller = new DashboardPoller(client, inferenceUrlFor(url, o.inferenceUrl ?? ctx.io.env.CVP_INFERENCE_URL));
  const ink = await loadInk();

  const out = process.stdout;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    out.write(LEAVE);
  };
  out.write(ENTER);
  const instance = ink.render(
    React.createElement(Dashboard, {
      ink,
      client,
      poller,
      intervalMs: o.interval,
      url,
      who: `${me.name} (${me.role})`,
    }),
    { exitOnCtrlC: false, patchConsole: true },
  );
  const crash = (e: unknown) => {
    instance.unmount();
    restore();
    process.stderr.write(`cvp tui stopped on an error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  };
  const stop = () => instance.unmount();
  process.on('exit', restore);
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  try {
    await instance.waitUntilExit();
  } finally {
    restore();
    process.off('uncaughtException', crash);
    process.off('unhandledRejection', crash);
    process.off('SIGTERM', stop);
    process.off('SIGHUP', stop);
    process.off('exit', restore);
  }
}

export function registerTuiCommand(program: Command, reg: Registry): void {
  program
    .command('tui')
    .description(
      'full-screen live dashboard: jobs and their progress, GPU leases, deployments with traffic, models, benchmarks',
    )
    .option('--interval <ms>', 'refresh period', num('--interval', { min: 200, max: 60_000, int: true }), 1000)
    .option(
      '--inference-url <url>',
      'data plane for traffic metrics (default: CVP_INFERENCE_URL, else the gateway host :8000)',
    )
    .action(act(reg, runTui));
}
