import { processGroupAlive, runProcess } from './run-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runProcess (real child processes)', () => {
  it('relays JSON lines and plain lines, keeps a stderr tail, reports the exit code', async () => {
    const json: Record<string, unknown>[] = [];
    const text: string[] = [];
    const r = await runProcess({
      command: 'sh',
      args: [
        '-c',
        'echo \'{"type":"progress","epoch":1}\'; echo hello; echo \'[1,2]\'; echo \'{broken\'; echo oops >&2; exit 3',
      ],
      timeoutMs: 5000,
      onJson: (o) => json.push(o),
      onText: (l) => text.push(l),
    });
    expect(json).toEqual([{ type: 'progress', epoch: 1 }]);
    expect(text).toEqual(['hello', '[1,2]', '{broken']);
    expect(r).toMatchObject({ exitCode: 3, timedOut: false, aborted: false });
    expect(r.stderrTail).toContain('oops');
  });

  it('on abort sends SIGTERM to the whole group, grandchildren included', async () => {
    const ac = new AbortController();
    let pid = 0;
    const p = runProcess({
      command: 'sh',
      // The grandchild ignores nothing; the shell waits on it.
      args: ['-c', 'sleep 60 & echo "{\\"pid\\":$$}"; wait'],
      timeoutMs: 60_000,
      signal: ac.signal,
      onJson: (o) => (pid = o.pid as number),
    });
    while (!pid) await sleep(20);
    expect(processGroupAlive(pid)).toBe(true);
    const t0 = Date.now();
    ac.abort();
    const r = await p;
    expect(r.aborted).toBe(true);
    expect(processGroupAlive(pid)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('escalates to SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const ac = new AbortController();
    let pid = 0;
    const p = runProcess({
      command: 'sh',
      args: ['-c', 'trap "" TERM; echo "{\\"pid\\":$$}"; while true; do sleep 0.1; done'],
      timeoutMs: 60_000,
      signal: ac.signal,
      killGraceMs: 300,
      onJson: (o) => (pid = o.pid as number),
    });
    while (!pid) await sleep(20);
    const t0 = Date.now();
    ac.abort();
    const r = await p;
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(processGroupAlive(pid)).toBe(false);
  });

  it('enforces the timeout', async () => {
    const r = await runProcess({ command: 'sleep', args: ['30'], timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGTERM');
  });

  it('does not start when already aborted, and rejects when the command does not exist', async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await runProcess({ command: 'sleep', args: ['1'], timeoutMs: 1000, signal: ac.signal })).aborted).toBe(
      true,
    );
    await expect(runProcess({ command: '/nonexistent/cmd', timeoutMs: 1000 })).rejects.toThrow(/ENOENT/);
  });
});
