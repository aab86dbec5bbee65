import { Injectable, type NestMiddleware } from '@nestjs/common';
import { CORRELATION_HEADER } from '@cvp/platform';
import type { NextFunction, Request, Response } from 'express';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { AuditService } from './audit.service';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What the AuditInterceptor learns about the call (handler name, target id) for the row written at the end. */
export interface AuditNote {
  action?: string;
  target?: string;
  detail?: string;
}
export type AuditedRequest = Request & { user?: AuthenticatedPrincipal; auditNote?: AuditNote };

/**
 * Writes one audit row per mutating call when its response finishes, so calls refused by the
 * guard (401/403), by upload limits (413) or by validation are recorded too, not only successes.
 */
@Injectable()
export class AuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AuditService) {}

  use(req: AuditedRequest, res: Response, next: NextFunction): void {
    if (!MUTATING.has(req.method)) return next();
    const path = (req.originalUrl ?? req.url).split('?')[0].slice(0, 300);
    res.once('finish', () => {
      const note = req.auditNote ?? {};
      const who = req.user;
      const status = res.statusCode;
      void this.audit.record({
        actorId: who?.id ?? null,
        actorName: who?.name ?? null,
        actorKind: who?.kind ?? 'anonymous',
        action: (note.action ?? `${req.method} ${path}`).slice(0, 100),
        method: req.method,
        path,
        target: note.target?.slice(0, 100) ?? null,
        result: status < 400 ? 'success' : status === 401 || status === 403 ? 'denied' : 'failure',
        status,
        correlationId: (res.getHeader(CORRELATION_HEADER) as string | undefined) ?? null,
        detail: note.detail?.slice(0, 1000) ?? null,
      });
    });
    next();
  }
}
