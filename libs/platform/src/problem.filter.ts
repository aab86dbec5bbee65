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
    if (body.status >= 500)
      this.logger.error(`${req.method} ${body.instance}: ${(exception as Error)?.stack ?? String(exception)}`);
    const retryAfter = (exception as { retryAfterSeconds?: number })?.retryAfterSeconds;
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
    return problem(500, 'internal error; the correlation id identifies it in the logs');
  }
}
