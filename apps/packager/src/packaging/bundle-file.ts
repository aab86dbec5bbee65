/**
 * One file of a bundle, before it is written: bytes generated here, or a file copied from the
 * platform (model, compiled services, native sources). Paths are POSIX, relative to the bundle root.
 */
export type BundleFileSource = { kind: 'bytes'; data: Buffer } | { kind: 'file'; path: string };

export interface BundleFile {
  path: string;
  /** Only two modes exist in a bundle, so the tarball never depends on the umask. */
  executable: boolean;
  source: BundleFileSource;
}

export const textFile = (path: string, text: string, executable = false): BundleFile => ({
  path,
  executable,
  source: { kind: 'bytes', data: Buffer.from(text, 'utf8') },
});

export const copiedFile = (path: string, from: string, executable = false): BundleFile => ({
  path,
  executable,
  source: { kind: 'file', path: from },
});

/** Bytewise order, independent of locale, so the entry order is the same everywhere. */
export const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

const SAFE_PATH = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._@+/-]+$/;

/** Refuses absolute paths, `.`/`..` segments and odd characters: a bundle never writes outside itself. */
export function assertSafeBundlePath(p: string): void {
  if (!SAFE_PATH.test(p) || p.includes('//') || p.endsWith('/'))
    throw new Error(`unsafe bundle path: ${JSON.stringify(p)}`);
}
