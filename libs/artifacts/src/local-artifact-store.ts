import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { assertArtifactKey, assertArtifactTreeKey, resolveArtifactKey } from './artifact-key';
import type { ArtifactInfo, ArtifactLease, ArtifactStore } from './artifact-store';
import { ArtifactNotFoundError } from './errors';

/**
 * Single-host mode, today's behaviour: the key is the file's path under the data dir. publish() of
 * a file already at its key does nothing, materialize() stats the file; nothing is hashed or copied.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly kind = 'local' as const;

  constructor(readonly dataDir: string) {}

  async publish(key: string, file: string): Promise<ArtifactInfo> {
    const target = resolveArtifactKey(this.dataDir, key);
    const src = path.resolve(file);
    if (src !== target) {
      // A file written elsewhere is copied in whole under a temp name first.
      await fs.promises.mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await fs.promises.copyFile(src, tmp);
        await fs.promises.rename(tmp, target);
      } catch (e) {
        await fs.promises.rm(tmp, { force: true });
        throw notFoundOr(e, key);
      }
    }
    const st = await fs.promises.stat(target).catch((e) => Promise.reject(notFoundOr(e, key)));
    return { key, size: st.size };
  }

  async materialize(key: string): Promise<ArtifactLease> {
    const info = await this.stat(key);
    if (!info) throw new ArtifactNotFoundError(`no artifact ${key}`, key);
    return { key, path: resolveArtifactKey(this.dataDir, key), size: info.size, release: () => undefined };
  }

  async stat(key: string): Promise<ArtifactInfo | null> {
    const st = await fs.promises.stat(resolveArtifactKey(this.dataDir, key)).catch(() => null);
    return st?.isFile() ? { key, size: st.size } : null;
  }

  async claim(key: string, owner: string): Promise<string> {
    assertArtifactKey(key);
    return owner;
  }

  async remove(key: string): Promise<void> {
    await fs.promises.rm(resolveArtifactKey(this.dataDir, key), { force: true });
  }

  async removeTree(prefix: string): Promise<void> {
    assertArtifactTreeKey(prefix);
    await fs.promises.rm(resolveArtifactKey(this.dataDir, prefix), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    /* nothing held */
  }
}

function notFoundOr(e: unknown, key: string): unknown {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT' ? new ArtifactNotFoundError(`no file for ${key}`, key) : e;
}
