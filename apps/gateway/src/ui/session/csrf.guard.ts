import { type CanActivate, type ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import type { UiRequest } from './ui-request';
import { safeEqual, UiSessionsService } from './ui-sessions.service';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

/**
 * CSRF protection of every state-changing web UI request, run after authentication:
 * - a request the browser marks as cross-site, or whose Origin is not this host, is refused;
 * - signed in by cookie: the session's synchronizer token must come back in the X-CSRF-Token
 *   header (htmx sends it on every request) or the `_csrf` form field;
 * - not signed in (the sign-in form): the double-submit token of the form must match its cookie.
 * Bearer-authenticated calls carry no ambient credential and need no token. SameSite=Strict on the
 * cookie is defence in depth, not this check.
 */
@Injectable()
export class CsrfGuard implements CanActivate {
  constructor(private readonly sessions: UiSessionsService) {}

  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<UiRequest>();
    if (SAFE_METHODS.has(req.method)) return true;
    if (isCrossOrigin(req)) throw new ForbiddenException('cross-site request refused');
    const header = req.headers[CSRF_HEADER];
    const presented =
      (typeof header === 'string' ? header : undefined) ??
      (typeof req.body?.[CSRF_FIELD] === 'string' ? (req.body[CSRF_FIELD] as string) : undefined);
    if (req.uiSession) {
      if (!safeEqual(presented, req.uiSession.csrfToken)) throw new ForbiddenException('CSRF token missing or wrong');
      return true;
    }
    if (req.user) return true; // a bearer token: nothing ambient to forge
    if (!this.sessions.verifyLoginCsrf(req, presented))
      throw new ForbiddenException('the form expired or came from elsewhere; reload the page and try again');
    return true;
  }
}

function isCrossOrigin(req: UiRequest): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (!origin) return false;
  if (origin === 'null') return true; // sandboxed frames and some redirects: never ours
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}
