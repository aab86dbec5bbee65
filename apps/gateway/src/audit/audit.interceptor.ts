import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { type Observable, tap } from 'rxjs';
import type { AuditedRequest } from './audit.middleware';

/**
 * Names the action (Controller.handler) and its target (the :id param, or the id of what the call
 * created) for the audit row the AuditMiddleware writes when the response finishes.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<AuditedRequest>();
    const note = (req.auditNote ??= {});
    note.action = `${ctx.getClass().name}.${ctx.getHandler().name}`;
    const params = (req.params ?? {}) as Record<string, string | undefined>;
    note.target = params.id ?? params.name ?? note.target;
    // Login has no principal yet: keep the attempted username (never the password).
    if (note.action === 'AuthController.login' && typeof req.body?.username === 'string')
      note.detail = `username=${req.body.username}`;
    return next.handle().pipe(
      tap((body) => {
        if (!note.target && body && typeof body === 'object' && typeof (body as { id?: unknown }).id === 'string')
          note.target = (body as { id: string }).id;
      }),
    );
  }
}
