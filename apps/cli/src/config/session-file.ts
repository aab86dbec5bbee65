import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Session, SessionStore } from '@cvp/sdk';
import type { CliIo } from '../io';

/** $CVP_CONFIG_DIR, else $XDG_CONFIG_HOME/cvp, else ~/.config/cvp. */
export function configDir(io: CliIo): string {
  if (io.env.CVP_CONFIG_DIR) return path.resolve(io.cwd, io.env.CVP_CONFIG_DIR);
  const base = io.env.XDG_CONFIG_HOME ? path.resolve(io.cwd, io.env.XDG_CONFIG_HOME) : path.join(io.home, '.config');
  return path.join(base, 'cvp');
}

const LOCK_WAIT_MS = 15_000;
/** A lock older than this was left by a process that died mid-refresh. */
const LOCK_STALE_MS = 60_000;

/**
 * The logged-in session in `<config dir>/session.json`: the folder 0700, the file 0600, written
 * to a temp file and renamed so a reader never sees half of it. Refreshes are serialised across
 * processes by an O_EXCL lock file next to it (bounded wait; a stale lock is taken over).
 */
export class FileSessionStore implements SessionStore {
  readonly file: string;
  private readonly lock: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'session.json');
    this.lock = path.join(dir, 'session.lock');
  }

  async load(): Promise<Session | null> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      const s = JSON.parse(text) as Session;
      return typeof s.accessToken === 'string' && typeof s.refreshToken === 'string' && typeof s.url === 'string'
        ? s
        : null;
    } catch {
      return null; // unreadable: as if logged out
    }
  }

  async save(session: Session | null): Promise<void> {
    if (!session) {
      await fs.rm(this.file, { force: true });
      return;
    }
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await fs.chmod(this.dir, 0o700);
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
    await fs.chmod(tmp, 0o600); // a umask cannot widen it, but a pre-existing temp file could be wider
    await fs.rename(tmp, this.file);
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const h = await fs.open(this.lock, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
        await h.writeFile(String(process.pid));
        await h.close();
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const st = await fs.stat(this.lock).catch(() => null);
        if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) await fs.rm(this.lock, { force: true });
        else if (Date.now() > deadline)
          throw new Error(`another cvp process holds ${this.lock}; remove it if no cvp is running`);
        else await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      return await fn();
    } finally {
      await fs.rm(this.lock, { force: true });
    }
  }
}
