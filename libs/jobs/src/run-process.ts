import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface RunProcessOptions {
  command: string;
  args?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Wall-clock limit; the process group is terminated when it passes. */
  timeoutMs: number;
  /** Aborting terminates the process group (SIGTERM, then SIGKILL after killGraceMs). */
  signal?: AbortSignal;
  /** SIGTERM -> SIGKILL grace; keep it under 4 s so a cancel completes within 5 s. */
  killGraceMs?: number;
  /** Every stdout line that parses as a JSON object (the python CLI's wire format, python/cvp_ml/wire.py). */
  onJson?: (obj: Record<string, unknown>) => void;
  /** Every other stdout line. */
  onText?: (line: string) => void;
  /** Bytes of stderr kept for the error message. */
  stderrTailBytes?: number;
}

export interface RunProcessResult {
  pid: number;
  exitCode: number | null;
  /** The signal that ended the child, if any. */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  stderrTail: string;
  durationMs: number;
}

function killGroup(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

/**
 * True while any process of the group still runs. Zombies (killed, not yet reaped by their new
 * parent) do not count: they hold no resources but a pid. Reads /proc on Linux.
 */
export function processGroupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return signalProbe(pgid);
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces, so parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') return true;
  }
  return false;
}

function signalProbe(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs a command in its own process group (so its grandchildren die with it), relays JSON-line
 * stdout, enforces a timeout, and on abort sends SIGTERM then SIGKILL to the whole group.
 * Never rejects for the child's own failure: callers read exitCode / timedOut / aborted.
 */
export function runProcess(opts: RunProcessOptions): Promise<RunProcessResult> {
  const started = Date.now();
  const grace = opts.killGraceMs ?? 3000;
  const tailBytes = opts.stderrTailBytes ?? 8192;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve({ pid: 0, exitCode: null, signal: null, timedOut: false, aborted: true, stderrTail: '', durationMs: 0 });
      return;
    }
    const child = spawn(opts.command, opts.args ?? [], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: setsid, so -pid addresses every descendant
    });
    let stderrTail = '';
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const terminate = () => {
      if (!child.pid || killTimer) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), grace);
    };
    const onAbort = () => {
      aborted = true;
      terminate();
    };
    const timeout = setTimeout(() => {
      timedOut = true;
      terminate();
    }, opts.timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const t = line.trim();
      if (!t) return;
      if (t.startsWith('{')) {
        try {
          const obj = JSON.parse(t) as unknown;
          if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
            opts.onJson?.(obj as Record<string, unknown>);
            return;
          }
        } catch {
          /* not JSON: a plain line */
        }
      }
      opts.onText?.(t);
    });
    child.stderr!.on('data', (b: Buffer) => {
      stderrTail = (stderrTail + b.toString('utf8')).slice(-tailBytes);
    });
    child.once('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timeout);
      opts.signal?.removeEventListener('abort', onAbort);
      // Leave no orphans: whatever the child left behind in its group goes too.
      if (child.pid) killGroup(child.pid, 'SIGKILL');
      if (killTimer) clearTimeout(killTimer);
      const finish = () => {
        if (settled) return;
        settled = true;
        resolve({
          pid: child.pid ?? 0,
          exitCode: code,
          signal: sig,
          timedOut,
          aborted,
          stderrTail,
          durationMs: Date.now() - started,
        });
      };
      // Let buffered stdout lines drain (bounded: a leaked pipe must not hold us).
      const t = setTimeout(finish, 1000);
      lines.once('close', () => {
        clearTimeout(t);
        finish();
      });
    });
  });
}
