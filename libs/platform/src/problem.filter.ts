import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ZodError } from 'zod';
import { PROBLEM_CONTENT_TYPE, type ProblemDetails } from '@cvp/contracts';
import { currentCorrelationId } from './correlation';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Socket errors of a dependency that is down or restarting. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN']);
/**
 * PostgreSQL SQLSTATEs of a server that is shutting down or restarting (57P01-57P03), out of
 * connections, disk or memory (class 53) or unreachable (class 08), and SQLite's lock held past
 * the busy timeout.
 */
const UNAVAILABLE_DB_CODES = /^(57P0[123]|53\w{3}|08\w{3}|SQLITE_BUSY)$/;
/** node-postgres reports a dropped or timed-out connection by message only. */
const UNAVAILABLE_DB_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * True for errors that mean "a backing service (the database) is down or restarting right now",
 * which clients should retry: answered 503 with Retry-After, never 500.
 */
export function isDependencyUnavailable(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown; driverError?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  const code = typeof err.code === 'string' ? err.code : '';
  if (UNREACHABLE_CODES.has(code) || UNAVAILABLE_DB_CODES.test(code)) return true;
  if (typeof err.message === 'string' && UNAVAILABLE_DB_MESSAGES.test(err.message)) return true;
  return err.driverError !== undefined && err.driverError !== e && isDependencyUnavailable(err.driverError);
}

/** Seconds a client is asked to wait before retrying a request that met an unavailable dependency. */
export const UNAVAILABLE_RETRY_AFTER_S = 2;

/** Builds an RFC 9457 body; `type` is a stable URN clients can switch on. */
export function problem(status: number, detail?: string, extra: Partial<ProblemDetails> = {}): ProblemDetails {
  const title = TITLES[status] ?? HttpStatus[status] ?? 'Error';
  return {
    type: `urn:cvp:problem:${title.toLowerCase().replace(/[^a-z]+/g, '-')}`,
    title,
    status,
    ...(detail ? { detail } : {}),
    ...extra,
  };
}

/** The one error filter: every HTTP error leaves as application/problem+json, never a stack. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetailsFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    if (res.headersSent) {
      res.end();
      return;
    }
    const body = this.toProblem(exception);
    body.instance = req.originalUrl?.split('?')[0];
    const cid = currentCorrelationId();
    if (cid) body.correlationId = cid;
    const unavailable = body.status === 503 && isDependencyUnavailable(exception);
    // An outage answers every request: one line each, not a stack each.
    if (unavailable) this.logger.warn(`${req.method} ${body.instance}: unavailable: ${(exception as Error)?.message}`);
    else if (body.status >= 500)
      this.logger.error(`${req.method} ${body.instance}: ${(exception as Error)?.stack ?? String(exception)}`);
    const retryAfter =
      (exception as { retryAfterSeconds?: number })?.retryAfterSeconds ??
      (unavailable ? UNAVAILABLE_RETRY_AFTER_S : undefined);
    if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
    res.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }

  toProblem(exception: unknown): ProblemDetails {
    if (exception instanceof ZodError) {
      return problem(400, 'request failed validation', {
        errors: exception.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const resp = exception.getResponse();
      if (typeof resp === 'object' && resp && 'type' in resp && 'status' in resp) return resp as ProblemDetails;
      const msg = typeof resp === 'string' ? resp : (resp as { message?: unknown }).message;
      const detail = Array.isArray(msg) ? msg.join('; ') : typeof msg === 'string' ? msg : exception.message;
      const extra: Partial<ProblemDetails> = {};
      if (typeof resp === 'object' && resp) {
        if ('errors' in resp) extra.errors = (resp as { errors: ProblemDetails['errors'] }).errors;
        // Terminus' readiness failures: keep the per-check detail so operators see what is down.
        if ('details' in resp) extra.checks = (resp as { details: unknown }).details;
      }
      return problem(status, detail, extra);
    }
    // Body-parser and multer errors carry a status of their own (413, 400) and must stay 4xx.
    const status =
      (exception as { status?: number; statusCode?: number })?.status ??
      (exception as { statusCode?: number })?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return problem(status, (exception as Error).message);
    }
    if (isDependencyUnavailable(exception))
      return problem(503, 'a backing service (the database) is unavailable right now; retry shortly');
    return problem(500, 'internal error; the correlation id identifies it in the logs');
  }
}
