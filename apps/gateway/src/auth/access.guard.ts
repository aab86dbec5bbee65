import {
  type ExecutionContext,
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  Optional,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { ACCESS_KEY, type AccessDeclaration } from '@cvp/platform';
import type { Request } from 'express';
import { API_KEY_PREFIX, ApiKeysService } from '../api-keys/api-keys.service';
import type { AuthenticatedPrincipal } from './principal';
import { SESSION_AUTH_KEY, SESSION_AUTHENTICATOR, type SessionAuthenticator } from './session-auth';

/** Reads a route's access declaration (handler first, then its controller). */
export function accessOf(reflector: Reflector, ctx: ExecutionContext): AccessDeclaration | undefined {
  return reflector.getAllAndOverride<AccessDeclaration | undefined>(ACCESS_KEY, [ctx.getHandler(), ctx.getClass()]);
}

/**
 * The one global guard (APP_GUARD): deny by default. A route without @Public()/@Roles() is
 * refused for everyone; otherwise the bearer credential (JWT through passport-jwt, or an API key
 * `cvp_...`) must belong to one of the declared roles. Routes marked @SessionAuth() (the web UI)
 * accept the browser session cookie instead, mapped to the same user, role and audit identity.
 */
@Injectable()
export class AccessGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
    @Optional() @Inject(SESSION_AUTHENTICATOR) private readonly sessions?: SessionAuthenticator,
  ) {
    super();
  }

  override async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true; // NATS handlers are not HTTP routes; the bus validates them
    const decl = accessOf(this.reflector, ctx);
    if (!decl) throw new ForbiddenException('this route declares no access rule and is closed');
    if ('public' in decl) return true;

    const req = ctx.switchToHttp().getRequest<Request & { user?: AuthenticatedPrincipal }>();
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer) {
      const bySession =
        this.sessions &&
        this.reflector.getAllAndOverride<boolean>(SESSION_AUTH_KEY, [ctx.getHandler(), ctx.getClass()]);
      const principal = bySession ? await this.sessions!.authenticate(req) : null;
      if (!principal) throw new UnauthorizedException(bySession ? 'not signed in' : 'missing bearer token');
      req.user = principal;
    } else if (bearer.startsWith(API_KEY_PREFIX)) {
      const principal = await this.apiKeys.authenticate(bearer);
      if (!principal) throw new UnauthorizedException('invalid or revoked api key');
      req.user = principal;
    } else {
      await super.canActivate(ctx); // passport-jwt sets req.user or throws 401
    }
    if (!decl.roles.includes(req.user!.role)) throw new ForbiddenException(`role ${req.user!.role} may not do this`);
    return true;
  }

  /**
   * Every passport failure (bad signature, alg, exp, nbf, disabled user) is one plain 401. An
   * error that is no verdict on the token (the database is down) goes on to the error filter.
   */
  override handleRequest<T>(err: unknown, user: T, info: unknown): T {
    if (err && !(err instanceof HttpException)) throw err;
    if (err || !user) {
      const reason = err instanceof Error ? err.message : info instanceof Error ? info.message : 'invalid token';
      throw new UnauthorizedException(`invalid token: ${reason}`);
    }
    return user;
  }
}
