import type { CvpClient, Job } from '@cvp/sdk';
import React from 'react';
import type { CliContext } from '../context';
import { loadInk } from '../ink';
import { EXIT, type ExitCode } from '../output/exit-codes';
import { shortId } from '../output/format';
import { applyEvent, initialProgress, progressLine, type ProgressState } from './job-progress';
import { ProgressView, type WatchMode } from './progress-view';

export interface WatchOutcome {
  job: Job;
  code: ExitCode;
}

const stopped = () => Object.assign(new Error('stopped watching'), { code: 'CVP_STOPPED' });
const isStopped = (e: unknown) => (e as { code?: string })?.code === 'CVP_STOPPED';

export const exitForJob = (job: Job): ExitCode =>
  job.state === 'succeeded' ? EXIT.ok : job.state === 'cancelled' ? EXIT.jobCancelled : EXIT.jobFailed;

/**
 * Follows a job until it ends. On a terminal: a live Ink view, and Ctrl-C asks whether to cancel
 * the job or only stop watching. Elsewhere: one line per change on stderr (none with --json), and
 * Ctrl-C stops watching. Stopping leaves the job running and exits 130.
 */
export async function watchJob(ctx: CliContext, client: CvpClient, job: Job): Promise<WatchOutcome> {
  const tty = ctx.io.interactive && !!ctx.io.stdout.isTTY && !ctx.json;
  let s = initialProgress(job);
  const ac = new AbortController();
  try {
    if (tty) s = await watchInk(ctx, client, s, ac);
    else s = await watchLines(ctx, client, s, ac);
  } catch (e) {
    if (!isStopped(e)) throw e;
    const p = ctx.printer;
    p.err(`stopped watching; job ${job.id} is ${s.state === 'queued' ? 'queued' : 'still running'}`);
    p.err(`  → follow it with \`cvp jobs watch ${job.id}\`, stop it with \`cvp jobs cancel ${job.id}\``);
    return { job: await client.jobs.get(job.id).catch(() => job), code: EXIT.interrupted };
  }
  const final = await client.jobs.get(job.id);
  return { job: final, code: exitForJob(final) };
}

async function watchLines(ctx: CliContext, client: CvpClient, start: ProgressState, ac: AbortController) {
  let s = start;
  let last = '';
  const onSigint = () => ac.abort(stopped());
  if (ctx.io.interactive) process.once('SIGINT', onSigint);
  try {
    for await (const e of client.jobs.events(s.jobId, { signal: ac.signal })) {
      s = applyEvent(s, e);
      const line = progressLine(s);
      // One line per stage or state change, or every 10 %.
      const key = `${s.state}|${s.stage}|${Math.floor(s.progress * 10)}|${s.epoch?.n}|${s.trial?.n}`;
      if (key !== last && !ctx.json) ctx.printer.err(line);
      last = key;
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  return s;
}

async function watchInk(ctx: CliContext, client: CvpClient, start: ProgressState, ac: AbortController) {
  const ink = await loadInk();
  let s = start;
  let mode: WatchMode = 'watch';
  let note: string | null = null;
  let tick = 0;
  const keys = !!process.stdin.isTTY;
  const element = () => React.createElement(ProgressView, { ink, state: s, mode, tick, note, keys, onKey });
  const onKey = (input: string, key: { ctrl: boolean; escape: boolean }) => {
    if (key.ctrl && input === 'c') {
      if (mode === 'watch') mode = 'confirm';
      else ac.abort(stopped()); // a second Ctrl-C: just leave
    } else if (mode === 'confirm' && /^y$/i.test(input)) {
      mode = 'cancelling';
      note = `cancelling ${shortId(s.jobId)}…`;
      client.jobs.cancel(s.jobId).catch((e: Error) => {
        note = `cancel failed: ${e.message}`;
        mode = 'watch';
        view.rerender(element());
      });
    } else if (mode === 'confirm' && /^n$/i.test(input)) {
      ac.abort(stopped());
    } else if (mode === 'confirm' && key.escape) {
      mode = 'watch';
    }
    view.rerender(element());
  };
  const onSigint = () => ac.abort(stopped()); // stdin is not a terminal: no question possible
  if (!keys) process.once('SIGINT', onSigint);
  const view = ink.render(element(), { exitOnCtrlC: false, patchConsole: false });
  const spin = setInterval(() => {
    tick++;
    view.rerender(element());
  }, 120);
  try {
    for await (const e of client.jobs.events(s.jobId, { signal: ac.signal })) {
      s = applyEvent(s, e);
      view.rerender(element());
    }
    mode = 'watch';
    note = null;
    view.rerender(element());
    return s;
  } finally {
    clearInterval(spin);
    process.removeListener('SIGINT', onSigint);
    view.unmount();
    await view.waitUntilExit().catch(() => undefined);
  }
}
