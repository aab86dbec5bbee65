import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';

/** Why an archive was refused; `status` is the HTTP status the caller answers with. */
export class ArchiveRejected extends Error {
  constructor(
    readonly status: 413 | 415 | 422,
    message: string,
    readonly entry?: string,
  ) {
    super(message);
    this.name = 'ArchiveRejected';
  }
}

export interface ZipCaps {
  maxEntries: number;
  maxTotalBytes: number;
  /** Largest uncompressed/compressed ratio of one entry. */
  maxRatio: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** The entry's unix file type from the central directory (0 when the archiver stored none). */
function unixType(e: yauzl.Entry): number {
  const madeBy = e.versionMadeBy >> 8;
  return madeBy === 3 ? (e.externalFileAttributes >>> 16) & S_IFMT : 0;
}

/**
 * Refuses names that could land outside the extraction folder or are not plain files/folders:
 * absolute paths, drive letters, backslashes, '..' segments, NUL, symlinks, devices, FIFOs, sockets.
 */
export function checkEntry(e: yauzl.Entry): void {
  const name = e.fileName;
  if (!name || name.length > 1024) throw new ArchiveRejected(422, 'entry with an empty or over-long name', name);
  if (name.includes('\0') || name.includes('\\'))
    throw new ArchiveRejected(422, `entry name ${JSON.stringify(name)} contains a NUL or backslash`, name);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name))
    throw new ArchiveRejected(422, `entry ${JSON.stringify(name)} has an absolute path`, name);
  if (name.split('/').some((seg) => seg === '..'))
    throw new ArchiveRejected(422, `entry ${JSON.stringify(name)} escapes the archive folder ('..')`, name);
  const t = unixType(e);
  if (t === S_IFLNK) throw new ArchiveRejected(422, `entry ${JSON.stringify(name)} is a symbolic link`, name);
  if (t !== 0 && t !== S_IFREG && t !== S_IFDIR)
    throw new ArchiveRejected(
      422,
      `entry ${JSON.stringify(name)} is a device, FIFO or socket (mode ${t.toString(8)})`,
      name,
    );
  if (e.isEncrypted()) throw new ArchiveRejected(422, `entry ${JSON.stringify(name)} is encrypted`, name);
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(
      file,
      { lazyEntries: true, autoClose: false, strictFileNames: false, validateEntrySizes: true, decodeStrings: true },
      (err, zip) => {
        if (err || !zip)
          return reject(
            new ArchiveRejected(
              422,
              `not a readable zip archive (truncated or corrupt): ${err?.message ?? 'unknown error'}`,
            ),
          );
        resolve(zip);
      },
    ),
  );
}

const isDir = (e: yauzl.Entry) => e.fileName.endsWith('/');

function checkCaps(e: yauzl.Entry, count: number, total: number, caps: ZipCaps): void {
  if (count > caps.maxEntries) throw new ArchiveRejected(413, `archive has more than ${caps.maxEntries} entries`);
  if (total > caps.maxTotalBytes)
    throw new ArchiveRejected(413, `archive expands to more than ${caps.maxTotalBytes} bytes`);
  const ratio = e.uncompressedSize / Math.max(1, e.compressedSize);
  if (e.uncompressedSize > 1024 * 1024 && ratio > caps.maxRatio) {
    throw new ArchiveRejected(
      413,
      `entry ${JSON.stringify(e.fileName)} has compression ratio ${ratio.toFixed(0)} (limit ${caps.maxRatio}): zip bomb`,
      e.fileName,
    );
  }
}

/** Reads only the central directory: names, sizes and types, every entry checked; nothing extracted. */
export async function listZip(file: string, caps: ZipCaps): Promise<{ name: string; size: number; dir: boolean }[]> {
  const zip = await openZip(file);
  try {
    const out: { name: string; size: number; dir: boolean }[] = [];
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (e: yauzl.Entry) => {
        try {
          checkEntry(e);
          total += e.uncompressedSize;
          checkCaps(e, out.length + 1, total, caps);
          out.push({ name: e.fileName, size: e.uncompressedSize, dir: isDir(e) });
          zip.readEntry();
        } catch (err) {
          reject(err);
        }
      });
      zip.on('end', () => resolve());
      zip.on('error', (err: Error) => reject(new ArchiveRejected(422, `corrupt zip: ${err.message}`)));
      zip.readEntry();
    });
    return out;
  } finally {
    zip.close();
  }
}

/**
 * Extracts into `dest` (which must exist and be empty) as a stream: every entry checked before it
 * is written, actual bytes counted against the caps while inflating (a lying header cannot get
 * past them), files created exclusively. On any error the caller removes `dest`.
 */
export async function extractZip(file: string, dest: string, caps: ZipCaps): Promise<string[]> {
  const zip = await openZip(file);
  const root = path.resolve(dest);
  const written: string[] = [];
  let total = 0;
  let count = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => reject(err);
      zip.on('error', (err: Error) => fail(new ArchiveRejected(422, `corrupt zip: ${err.message}`)));
      zip.on('end', () => resolve());
      zip.on('entry', (e: yauzl.Entry) => {
        void (async () => {
          checkEntry(e);
          count += 1;
          checkCaps(e, count, total + e.uncompressedSize, caps);
          const target = path.resolve(root, e.fileName);
          if (target !== root && !target.startsWith(root + path.sep))
            throw new ArchiveRejected(
              422,
              `entry ${JSON.stringify(e.fileName)} escapes the extraction folder`,
              e.fileName,
            );
          if (isDir(e)) {
            await fs.mkdir(target, { recursive: true });
            return;
          }
          await fs.mkdir(path.dirname(target), { recursive: true });
          const stream = await new Promise<NodeJS.ReadableStream>((res, rej) =>
            zip.openReadStream(e, (err, s) =>
              err || !s ? rej(new ArchiveRejected(422, `entry ${e.fileName}: ${err?.message}`, e.fileName)) : res(s),
            ),
          );
          let entryBytes = 0;
          const meter = new Transform({
            transform(chunk: Buffer, _enc, done) {
              entryBytes += chunk.length;
              total += chunk.length;
              if (total > caps.maxTotalBytes)
                return done(new ArchiveRejected(413, `archive expands to more than ${caps.maxTotalBytes} bytes`));
              if (entryBytes > 1024 * 1024 && entryBytes / Math.max(1, e.compressedSize) > caps.maxRatio) {
                return done(
                  new ArchiveRejected(
                    413,
                    `entry ${JSON.stringify(e.fileName)} exceeds compression ratio ${caps.maxRatio}: zip bomb`,
                    e.fileName,
                  ),
                );
              }
              done(null, chunk);
            },
          });
          try {
            await pipeline(stream, meter, createWriteStream(target, { flags: 'wx' }));
          } catch (err) {
            if (err instanceof ArchiveRejected) throw err;
            throw new ArchiveRejected(
              422,
              `entry ${JSON.stringify(e.fileName)} could not be extracted: ${(err as Error).message}`,
              e.fileName,
            );
          }
          written.push(e.fileName);
        })().then(() => zip.readEntry(), fail);
      });
      zip.readEntry();
    });
    return written;
  } finally {
    zip.close();
  }
}
