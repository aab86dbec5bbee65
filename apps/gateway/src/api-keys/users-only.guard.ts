import { type CanActivate, type ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import type { AuthenticatedPrincipal } from '../auth/principal';

/**
 * Refuses API keys on a route only signed-in users may call (making keys): a guard, so the answer
 * is 403 whatever the body, before validation looks at it.
 */
@Injectable()
export class UsersOnlyGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    const who = ctx.switchToHttp().getRequest<{ user?: AuthenticatedPrincipal }>().user;
    if (who?.kind === 'apiKey') throw new ForbiddenException('an API key cannot create API keys; sign in as a user');
    return true;
  }
}
