import { randomBytes, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import type { PackagerConfig } from '../config';
import { type BundleFile, textFile } from './bundle-file';
import { writeDeterministicTarGz } from './deterministic-tar';
import { buildManifest, MANIFEST_NAME } from './manifest';

export interface WrittenPackage {
  packageId: string;
  /** Absolute paths in the data dir. */
  dir: string;
  bundleDir: string;
  tarballPath: string;
  /** SHA-256 of the tarball. */
  sha256: string;
  sizeBytes: number;
  fileCount: number;
}

/**
 * packageId = "pkg-" + the first 24 hex of SHA-256(MANIFEST.sha256): the id is a function of
 * every file's path and content, so the same inputs give the same id (a re-delivered or repeated
 * job rewrites the same package) and different inputs never collide.
 */
export const packageIdOf = (manifest: string) =>
  `pkg-${createHash('sha256').update(manifest).digest('hex').slice(0, 24)}`;
export const tarballNameOf = (packageId: string) => `cvp-bundle-${packageId}.tar.gz`;

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Writes packages/<packageId>/{bundle/, cvp-bundle-<packageId>.tar.gz} atomically (temp dir, then rename). */
@Injectable()
export class PackageWriter {
  constructor(@InjectConfig() private readonly config: PackagerConfig) {}

  get packagesDir(): string {
    return path.resolve(this.config.CVP_DATA_DIR, 'packages');
  }

  async write(files: BundleFile[], signal?: AbortSignal): Promise<WrittenPackage> {
    const manifest = await buildManifest(files);
    const packageId = packageIdOf(manifest);
    const all = [...files, textFile(MANIFEST_NAME, manifest)];
    const root = `cvp-bundle-${packageId}`;
    await mkdir(this.packagesDir, { recursive: true });
    const tmp = path.join(this.packagesDir, `.tmp-${packageId}-${randomBytes(4).toString('hex')}`);
    const final = path.join(this.packagesDir, packageId);
    try {
      const bundleTmp = path.join(tmp, 'bundle');
      for (const f of all) {
        signal?.throwIfAborted();
        const dest = path.join(bundleTmp, ...f.path.split('/'));
        await mkdir(path.dirname(dest), { recursive: true });
        if (f.source.kind === 'bytes') await writeFile(dest, f.source.data);
        else await copyFile(f.source.path, dest);
        await chmod(dest, f.executable ? 0o755 : 0o644);
      }
      signal?.throwIfAborted();
      const tarTmp = path.join(tmp, tarballNameOf(packageId));
      await writeDeterministicTarGz(all, root, tarTmp);
      const sha256 = await sha256File(tarTmp);
      const sizeBytes = (await stat(tarTmp)).size;
      // Same id means same content: replace a previous copy (a re-delivery) in two renames.
      const old = `${final}.old-${randomBytes(4).toString('hex')}`;
      await rename(final, old).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      await rename(tmp, final);
      await rm(old, { recursive: true, force: true });
      return {
        packageId,
        dir: final,
        bundleDir: path.join(final, 'bundle'),
        tarballPath: path.join(final, tarballNameOf(packageId)),
        sha256,
        sizeBytes,
        fileCount: all.length,
      };
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }
}
