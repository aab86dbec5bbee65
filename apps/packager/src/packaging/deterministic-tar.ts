import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';
import { pack as tarPack, type Pack } from 'tar-stream';
import { type BundleFile, byPath } from './bundle-file';

/**
 * Fixed metadata for every entry: the tarball depends only on paths and contents.
 * 2000-01-01 rather than the epoch, because some tools warn about (or "fix") a zero mtime.
 */
export const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));
const OWNER = { uid: 0, gid: 0, uname: 'root', gname: 'root' } as const;

/** Every parent directory of the given file paths, so extraction never invents directory modes. */
function directoriesOf(paths: string[], root: string): string[] {
  const dirs = new Set<string>([root]);
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(`${root}/${parts.slice(0, i).join('/')}`);
  }
  return [...dirs];
}

async function addEntry(tar: Pack, file: BundleFile, name: string): Promise<void> {
  const mode = file.executable ? 0o755 : 0o644;
  const header = { name, mode, mtime: FIXED_MTIME, type: 'file' as const, ...OWNER };
  if (file.source.kind === 'bytes') {
    const data = file.source.data;
    await new Promise<void>((resolve, reject) =>
      tar.entry({ ...header, size: data.length }, data, (e) => (e ? reject(e) : resolve())),
    );
    return;
  }
  const size = (await stat(file.source.path)).size;
  const sink = tar.entry({ ...header, size });
  await pipeline(createReadStream(file.source.path), sink);
}

/**
 * Writes `files` under the top-level folder `root` as a gzip'd tarball whose bytes depend only on
 * the files: entries sorted bytewise, fixed mtime/owner/modes, directory entries included, and
 * Node's gzip header (no file name, mtime 0, fixed OS byte) at a fixed level.
 */
export async function writeDeterministicTarGz(files: BundleFile[], root: string, outPath: string): Promise<void> {
  const sorted = [...files].sort(byPath);
  const entries: { name: string; file?: BundleFile }[] = [
    ...directoriesOf(
      sorted.map((f) => f.path),
      root,
    ).map((d) => ({ name: `${d}/` })),
    ...sorted.map((f) => ({ name: `${root}/${f.path}`, file: f })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const tar = tarPack();
  const gzip = createGzip({ level: 9, memLevel: 9, strategy: zlibConstants.Z_DEFAULT_STRATEGY });
  const written = pipeline(tar, gzip, createWriteStream(outPath));
  try {
    for (const e of entries) {
      if (!e.file) {
        await new Promise<void>((resolve, reject) =>
          tar.entry({ name: e.name, type: 'directory', mode: 0o755, mtime: FIXED_MTIME, ...OWNER }, (err) =>
            err ? reject(err) : resolve(),
          ),
        );
      } else {
        await addEntry(tar, e.file, e.name);
      }
    }
    tar.finalize();
  } catch (err) {
    tar.destroy(err as Error);
  }
  await written;
}
