import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { CORRELATION_HEADER, sanitizeCorrelationId, withCorrelation } from './correlation';

/** Adopts the caller's correlation id (or makes one), echoes it, and scopes the request to it. */
export function correlationMiddleware(req: Request, res: Response, next: NextFunction): void {
  const id = sanitizeCorrelationId(req.headers[CORRELATION_HEADER]) ?? randomUUID();
  res.setHeader(CORRELATION_HEADER, id);
  withCorrelation(id, () => next());
}
