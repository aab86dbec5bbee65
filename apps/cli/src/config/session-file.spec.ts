import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileSessionStore } from './session-file';

const session = {
  url: 'http://x',
  username: 'a',
  accessToken: 'a',
  refreshToken: 'r',
  accessExpiresAt: 'x',
  refreshExpiresAt: 'y',
};

describe('session file', () => {
  const dir = () => mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? '/tmp', 'session-'));

  it('writes 0600 in a 0700 folder, reads back, and forgets', async () => {
    const s = new FileSessionStore(path.join(dir(), 'cvp'));
    await s.save(session);
    expect(statSync(s.file).mode & 0o777).toBe(0o600);
    expect(statSync(s.dir).mode & 0o777).toBe(0o700);
    expect(await s.load()).toEqual(session);
    await s.save(null);
    expect(await s.load()).toBeNull();
    writeFileSync(s.file, 'not json');
    expect(await s.load()).toBeNull();
  });

  it('runs one holder at a time, and takes over a lock left by a dead process', async () => {
    const s = new FileSessionStore(dir());
    const order: string[] = [];
    const run = (name: string) =>
      s.exclusive(async () => {
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 60));
        order.push(`${name}-`);
      });
    await Promise.all([run('a'), run('b')]);
    expect([order.slice(0, 2), order.slice(2)]).toEqual(
      order[0] === 'a+'
        ? [
            ['a+', 'a-'],
            ['b+', 'b-'],
          ]
        : [
            ['b+', 'b-'],
            ['a+', 'a-'],
          ],
    );
    const lock = path.join(s.dir, 'session.lock');
    writeFileSync(lock, '999999');
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    expect(await s.exclusive(async () => 'took over')).toBe('took over');
  });
});
