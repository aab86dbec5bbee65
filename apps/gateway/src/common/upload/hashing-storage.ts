import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';

/** What the upload left in the temp folder; the caller renames it into place or deletes it. */
export interface StagedUpload {
  tmpPath: string;
  size: number;
  sha256: string;
  /** First bytes of the file, for content sniffing without reopening it. */
  head: Buffer;
  originalName: string;
}
export const HEAD_BYTES = 64;

/**
 * Multer storage that streams the file to a temp path while hashing it (SHA-256) and keeping its
 * first bytes: the file is read once, never held in memory. A stream cut short (size limit, client
 * abort) removes its temp file before the error is reported.
 */
export class HashingTempStorage implements StorageEngine {
  constructor(private readonly tmpDir: string) {
    mkdirSync(tmpDir, { recursive: true });
  }

  _handleFile(
    _req: Request,
    file: Express.Multer.File,
    cb: (error?: unknown, info?: Partial<Express.Multer.File> & { staged?: StagedUpload }) => void,
  ): void {
    const tmpPath = path.join(this.tmpDir, `.upload-${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    const headChunks: Buffer[] = [];
    let headLen = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        if (headLen < HEAD_BYTES) {
          headChunks.push(chunk.subarray(0, HEAD_BYTES - headLen));
          headLen += Math.min(chunk.length, HEAD_BYTES - headLen);
        }
        done(null, chunk);
      },
    });
    let limited = false;
    file.stream.once('limit', () => {
      limited = true;
      tap.destroy(Object.assign(new Error('file too large'), { code: 'LIMIT_FILE_SIZE' }));
    });
    pipeline(file.stream, tap, createWriteStream(tmpPath, { flags: 'wx' }))
      .then(() => {
        if (limited) throw Object.assign(new Error('file too large'), { code: 'LIMIT_FILE_SIZE' });
        const staged: StagedUpload = {
          tmpPath,
          size,
          sha256: hash.digest('hex'),
          head: Buffer.concat(headChunks),
          originalName: file.originalname,
        };
        cb(null, { path: tmpPath, size, staged });
      })
      .catch(async (e: unknown) => {
        await fs.rm(tmpPath, { force: true });
        cb(e);
      });
  }

  _removeFile(_req: Request, file: Express.Multer.File, cb: (error: Error | null) => void): void {
    fs.rm(file.path, { force: true }).then(
      () => cb(null),
      (e: Error) => cb(e),
    );
  }
}
