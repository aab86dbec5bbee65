import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MemoryLeaseClient } from '../testing/memory-lease-client';
import { EXIT, parseWrapperArgs, runTrialUnderLease, trialOutDir } from './trial-runner';

const tmp = () => fs.mkdtemp(path.join(process.env.CVP_TEST_DIR!, 'trial-'));

describe('trial runner (lease around one tuning trial; in-process lease double)', () => {
  it('holds a lease while the command runs, passes its exit code, records the lease in the trial folder', async () => {
    const leases = new MemoryLeaseClient(1);
    const out = await tmp();
    const lines: Record<string, unknown>[] = [];
    const res = await runTrialUnderLease({
      client: leases,
      holder: 'h:trial-0',
      ttlMs: 1000,
      waitMs: 1000,
      killGraceMs: 500,
      command: process.execPath,
      args: ['-e', 'setTimeout(() => process.exit(3), 200)', '--', '--out', out],
      signal: new AbortController().signal,
      emit: (l) => lines.push(l),
    });
    expect(res.exitCode).toBe(3);
    expect(lines[0]).toMatchObject({ type: 'lease', fencingToken: 1 });
    const rec = JSON.parse(await fs.readFile(path.join(out, 'lease.json'), 'utf8'));
    expect(rec).toMatchObject({ holder: 'h:trial-0', fencingToken: 1, exitCode: 3 });
    expect(Date.parse(rec.releasedAt) - Date.parse(rec.grantedAt)).toBeGreaterThanOrEqual(150);
    expect(leases.held.size).toBe(0);
  });

  it('a wrapper signal stops the command (SIGTERM, then SIGKILL) and exits as cancelled', async () => {
    const leases = new MemoryLeaseClient(1);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const res = await runTrialUnderLease({
      client: leases,
      holder: 'h',
      ttlMs: 1000,
      waitMs: 1000,
      killGraceMs: 500,
      command: process.execPath,
      args: ['-e', "process.on('SIGTERM', () => {}); setTimeout(() => {}, 60000)"],
      signal: ac.signal,
      emit: () => undefined,
    });
    expect(res.exitCode).toBe(EXIT.cancelled);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(leases.held.size).toBe(0);
  });

  it('a lost lease stops the trial with a lease_lost error line', async () => {
    const leases = new MemoryLeaseClient(1);
    const lines: Record<string, unknown>[] = [];
    setTimeout(() => leases.revokeAll('expired'), 300);
    const res = await runTrialUnderLease({
      client: leases,
      holder: 'h',
      ttlMs: 1000,
      waitMs: 1000,
      killGraceMs: 500,
      command: process.execPath,
      args: ['-e', 'setTimeout(() => {}, 60000)'],
      signal: new AbortController().signal,
      emit: (l) => lines.push(l),
    });
    expect(res.exitCode).toBe(EXIT.other);
    expect(lines.at(-1)).toMatchObject({ type: 'error', code: 'lease_lost' });
    expect(res.record.lostReason).toBe('expired');
  });

  it('no lease within the wait: an error line and a failed trial; cancelled while waiting: exit 4', async () => {
    const leases = new MemoryLeaseClient(1);
    const blocker = await leases.acquire({ holder: 'other', priority: 'train', ttlMs: 1000, waitMs: 10 });
    const lines: Record<string, unknown>[] = [];
    const base = {
      client: leases,
      holder: 'h',
      ttlMs: 1000,
      killGraceMs: 500,
      command: process.execPath,
      args: ['-e', ''],
      emit: (l: Record<string, unknown>) => lines.push(l),
    };
    const res = await runTrialUnderLease({ ...base, waitMs: 200, signal: new AbortController().signal });
    expect(res.exitCode).toBe(EXIT.other);
    expect(lines.at(-1)).toMatchObject({ type: 'error', code: 'lease_unavailable' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect((await runTrialUnderLease({ ...base, waitMs: 5000, signal: ac.signal })).exitCode).toBe(EXIT.cancelled);
    await blocker.release();
  });

  it('parses the wrapper command line and finds the trial folder', () => {
    process.env.CVP_TRIAL_NUMBER = '7';
    expect(parseWrapperArgs(['--holder', 'tb:job', '--', 'python', '-m', 'x'])).toEqual({
      holder: 'tb:job:trial-7',
      command: 'python',
      args: ['-m', 'x'],
    });
    delete process.env.CVP_TRIAL_NUMBER;
    expect(parseWrapperArgs(['python'])).toEqual({ holder: 'trainer-bridge:trial', command: 'python', args: [] });
    expect(() => parseWrapperArgs(['--holder', 'x', '--'])).toThrow(/usage/);
    expect(trialOutDir(['a', '--out', '/x'])).toBe('/x');
    expect(trialOutDir(['--out'])).toBeUndefined();
    expect(existsSync('/nonexistent')).toBe(false);
  });
});
