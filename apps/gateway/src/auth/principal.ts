import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from '@cvp/contracts';

/**
 * Who made the request, set on req.user by the global AccessGuard.
 * `id` is the user id, or `apikey:<keyId>` for an API key (its owner in `ownerId`).
 */
export interface AuthenticatedPrincipal {
  kind: 'user' | 'apiKey';
  id: string;
  /** The user that owns what this principal creates (the key's owner for API keys). */
  ownerId: string;
  name: string;
  role: Principal;
}

/** Handler parameter: the authenticated principal (undefined on @Public() routes). */
export const CurrentPrincipal = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): AuthenticatedPrincipal | undefined => {
    return ctx.switchToHttp().getRequest<{ user?: AuthenticatedPrincipal }>().user;
  },
);
