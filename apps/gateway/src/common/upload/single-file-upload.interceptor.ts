import {
  BadRequestException,
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Injectable,
  type NestInterceptor,
  PayloadTooLargeException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import multer from 'multer';
import { promises as fs } from 'node:fs';
import { catchError, from, mergeMap, type Observable, switchMap } from 'rxjs';
import { drainRefusedBody } from '@cvp/platform';
import { HashingTempStorage, type StagedUpload } from './hashing-storage';
import type { UploadAdmission } from './upload-admission';

export interface UploadLimits {
  /** Largest file accepted; checked on Content-Length before reading, then on the stream. */
  maxFileBytes: number;
  tmpDir: string;
  field?: string;
  /** Shared bound on uploads in progress (429 when full). */
  admission: UploadAdmission;
}

/** Room for multipart boundaries and the small text fields next to the file. */
const MULTIPART_OVERHEAD = 64 * 1024;

export type UploadRequest = Request & { file?: Express.Multer.File & { staged?: StagedUpload } };

/** The staged file of a request handled by SingleFileUploadInterceptor (undefined when none was sent). */
export function stagedUpload(req: UploadRequest): StagedUpload | undefined {
  return req.file?.staged;
}

/**
 * Streams one multipart file to a temp path (hash while streaming). A Content-Length above the cap
 * is answered 413 before a byte of the body is read; a chunked body is cut at the cap by the stream
 * limit. Either way the rest of the body is discarded for a bounded time, then the connection closes
 * (drainRefusedBody: the client reads the 413 instead of a reset, and a client sending 2 GB cannot
 * hold the connection). Subclasses supply their limits (they differ for models and data sets).
 */
@Injectable()
export abstract class SingleFileUploadInterceptor implements NestInterceptor {
  protected abstract limits(): UploadLimits;
  /**
   * A check that needs the caller (per-user limits), run after the guard and before a byte of the
   * body is read; `declaredBytes` is the Content-Length when there is one. A refusal discards the
   * body for a bounded time, then closes the connection, as a 413 does.
   */
  protected admit?(req: UploadRequest, declaredBytes: number | undefined): Promise<void>;

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = ctx.switchToHttp();
    const req = http.getRequest<UploadRequest>();
    const res = http.getResponse<Response>();
    const l = this.limits();
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > l.maxFileBytes + MULTIPART_OVERHEAD) {
      drainRefusedBody(req);
      throw new PayloadTooLargeException(`upload of ${declared} bytes exceeds the limit of ${l.maxFileBytes} bytes`);
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('multipart/form-data')) {
      throw new HttpException('expected multipart/form-data with a "file" part', 415);
    }
    const admitted = this.admit
      ? this.admit(req, Number.isFinite(declared) ? declared : undefined).catch((e: unknown) => {
          drainRefusedBody(req);
          throw e;
        })
      : Promise.resolve();
    return from(admitted).pipe(switchMap(() => this.receive(req, res, l, next)));
  }

  private receive(req: UploadRequest, res: Response, l: UploadLimits, next: CallHandler): Observable<unknown> {
    const release = l.admission.acquire();
    const upload = multer({
      storage: new HashingTempStorage(l.tmpDir),
      limits: { fileSize: l.maxFileBytes, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 25, headerPairs: 200 },
    }).single(l.field ?? 'file');
    const run = new Promise<void>((resolve, reject) => {
      upload(req, res, (err: unknown) => {
        if (!err) return resolve();
        const code = (err as { code?: string }).code;
        if (code === 'LIMIT_FILE_SIZE') {
          drainRefusedBody(req);
          return reject(new PayloadTooLargeException(`file exceeds the limit of ${l.maxFileBytes} bytes`));
        }
        if (typeof code === 'string' && code.startsWith('LIMIT_'))
          return reject(new BadRequestException(`multipart limit: ${(err as Error).message}`));
        reject(new BadRequestException(`malformed multipart body: ${(err as Error).message}`));
      });
    });
    // Whatever the handler did, the temp file must not outlive the request: the service renames it
    // into place on success (then rm is a no-op); on any error it is removed before the answer.
    const cleanup = () => {
      release();
      return req.file?.path ? fs.rm(req.file.path, { force: true }) : Promise.resolve();
    };
    return from(run).pipe(
      switchMap(() => next.handle()),
      mergeMap(async (v) => {
        await cleanup();
        return v;
      }),
      catchError(async (e) => {
        await cleanup();
        throw e;
      }),
    );
  }
}
