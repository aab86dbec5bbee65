import { promises as fs } from 'node:fs';

/** Raised when another benchmark held the host lock for longer than the wait bound. */
export class HostBusyError extends Error {
  override name = 'HostBusyError';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One benchmark measures at a time on a host: an exclusive lock file (O_EXCL) naming its
 * holder. A holder whose process is gone is stale and taken over. Waiting is bounded.
 */
export async function acquireHostLock(
  file: string,
  holder: string,
  o: { waitMs: number; pollMs?: number; signal?: AbortSignal },
): Promise<() => Promise<void>> {
  const deadline = Date.now() + o.waitMs;
  const poll = o.pollMs ?? 250;
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      const h = await fs.open(file, 'wx');
      await h.writeFile(JSON.stringify({ pid: process.pid, holder, at: new Date().toISOString() }));
      await h.close();
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await fs.unlink(file).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const current = await fs.readFile(file, 'utf8').catch(() => '');
    let pid = 0;
    try {
      pid = Number((JSON.parse(current) as { pid?: number }).pid) || 0;
    } catch {
      pid = 0; // half-written by a holder that died mid-write: stale
    }
    if (!pid || !alive(pid)) {
      await fs.unlink(file).catch(() => undefined);
      continue;
    }
    if (Date.now() >= deadline)
      throw new HostBusyError(`another benchmark (pid ${pid}) is measuring on this host; waited ${o.waitMs} ms`);
    await new Promise((r) => setTimeout(r, poll));
  }
}
