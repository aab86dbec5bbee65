import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { GpuLeaseClient, Lease } from '@cvp/gpu-lease';

/**
 * One tuning trial under its own GPU lease: acquire (priority train), run the trial command,
 * release. The command runs in the wrapper's process group (the coordinator's, which is the
 * trainer-bridge job's group), so a cancel of the job reaches it with one group signal; a
 * SIGTERM aimed at the wrapper alone is forwarded. Losing the lease stops the trial.
 */
export interface TrialRunOptions {
  client: GpuLeaseClient;
  holder: string;
  ttlMs: number;
  waitMs: number;
  killGraceMs: number;
  command: string;
  args: string[];
  /** Aborted by SIGTERM/SIGINT on the wrapper. */
  signal: AbortSignal;
  /** Writes a wire-format line (python/cvp_ml/wire.py) on the wrapper's stdout, read by the coordinator. */
  emit: (line: Record<string, unknown>) => void;
}

export interface LeaseRecord {
  holder: string;
  leaseId: string | null;
  fencingToken: number | null;
  requestedAt: string;
  grantedAt: string | null;
  releasedAt: string | null;
  exitCode: number;
  lostReason?: string;
}

export const EXIT = { ok: 0, other: 1, cancelled: 4 } as const;

/** The trial's output folder (its `--out` argument), where lease.json is written. */
export function trialOutDir(args: string[]): string | undefined {
  const i = args.indexOf('--out');
  return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined;
}

export async function runTrialUnderLease(o: TrialRunOptions): Promise<{ exitCode: number; record: LeaseRecord }> {
  const record: LeaseRecord = {
    holder: o.holder,
    leaseId: null,
    fencingToken: null,
    requestedAt: new Date().toISOString(),
    grantedAt: null,
    releasedAt: null,
    exitCode: EXIT.other,
  };
  const finish = async (exitCode: number) => {
    record.exitCode = exitCode;
    const dir = trialOutDir(o.args);
    if (dir) {
      await fs.mkdir(dir, { recursive: true });
      const file = path.join(dir, 'lease.json');
      await fs.writeFile(`${file}.tmp`, JSON.stringify(record, null, 2));
      await fs.rename(`${file}.tmp`, file);
    }
    return { exitCode, record };
  };

  let lease: Lease;
  try {
    lease = await o.client.acquire({
      holder: o.holder,
      priority: 'train',
      ttlMs: o.ttlMs,
      waitMs: o.waitMs,
      signal: o.signal,
      // Lost early enough that the SIGTERM-then-SIGKILL below ends the trial before the token moves on.
      stopMarginMs: o.killGraceMs + 1000,
    });
  } catch (e) {
    const cancelled = o.signal.aborted;
    o.emit({
      type: 'error',
      code: cancelled ? 'cancelled' : 'lease_unavailable',
      message: cancelled ? 'cancelled while waiting for a GPU lease' : (e as Error).message,
    });
    return finish(cancelled ? EXIT.cancelled : EXIT.other);
  }
  record.leaseId = lease.id;
  record.fencingToken = lease.fencingToken;
  record.grantedAt = new Date().toISOString();
  o.emit({ type: 'lease', ts: Date.now() / 1000, leaseId: lease.id, fencingToken: lease.fencingToken });

  let lostReason: string | undefined;
  let exitCode: number;
  try {
    exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(o.command, o.args, { stdio: ['ignore', 'inherit', 'inherit'] });
      let killTimer: NodeJS.Timeout | undefined;
      const stop = () => {
        if (killTimer || child.exitCode !== null) return;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), o.killGraceMs);
      };
      o.signal.addEventListener('abort', stop, { once: true });
      void lease.lost.then(({ reason }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        lostReason = reason;
        stop();
      });
      child.once('error', reject);
      child.once('exit', (code, sig) => {
        clearTimeout(killTimer);
        o.signal.removeEventListener('abort', stop);
        resolve(code ?? (sig === 'SIGTERM' || sig === 'SIGKILL' ? EXIT.cancelled : EXIT.other));
      });
    });
  } catch (e) {
    o.emit({ type: 'error', code: 'spawn_failed', message: (e as Error).message });
    exitCode = EXIT.other;
  } finally {
    // The GPU is free once the trial has exited; stamped before the release round trip, whose reply
    // can arrive after the service has already granted the token to the next trial.
    record.releasedAt = new Date().toISOString();
    await lease.release().catch(() => undefined);
  }
  if (lostReason) {
    record.lostReason = lostReason;
    // Last error line wins in the coordinator: the trial failed because its lease went away.
    o.emit({ type: 'error', code: 'lease_lost', message: `GPU lease ${lease.id} lost: ${lostReason}` });
    exitCode = EXIT.other;
  } else if (o.signal.aborted) {
    exitCode = EXIT.cancelled;
  }
  return finish(exitCode);
}

/** argv after the node script: `--holder H [--] command args...`. */
export function parseWrapperArgs(argv: string[]): { holder: string; command: string; args: string[] } {
  let holder = 'trainer-bridge:trial';
  let i = 0;
  for (; i < argv.length; i++) {
    if (argv[i] === '--holder' && i + 1 < argv.length) holder = argv[++i];
    else if (argv[i] === '--') {
      i++;
      break;
    } else break;
  }
  const rest = argv.slice(i);
  if (!rest.length) throw new Error('usage: trial-lease-wrapper [--holder NAME] -- command [args...]');
  const trial = process.env.CVP_TRIAL_NUMBER;
  return { holder: trial ? `${holder}:trial-${trial}` : holder, command: rest[0], args: rest.slice(1) };
}
