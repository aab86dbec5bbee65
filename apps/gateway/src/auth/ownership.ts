import { ForbiddenException } from '@nestjs/common';
import { z } from 'zod';
import type { AuthenticatedPrincipal } from './principal';

/**
 * Who may change a resource that has an owner (model, data set, job, deployment, package, API
 * key): its owner when the owner is an engineer, and any admin. Viewers and `infer` keys change
 * nothing. The route's @Roles() already keeps viewers out; this rule is the one that tells two
 * engineers apart, and it lives in the services so every caller (REST, UI) gets it.
 */
export function mayChange(who: Pick<AuthenticatedPrincipal, 'role' | 'ownerId'>, owned: { ownerId: string }): boolean {
  if (who.role === 'admin') return true;
  return who.role === 'engineer' && owned.ownerId === who.ownerId;
}

/** 403 unless `who` may change `owned`; `what` names it in the answer (e.g. "model 1234"). */
export function assertMayChange(
  who: Pick<AuthenticatedPrincipal, 'role' | 'ownerId'>,
  owned: { ownerId: string },
  what: string,
): void {
  if (mayChange(who, owned)) return;
  throw new ForbiddenException(
    who.role === 'engineer'
      ? `${what} belongs to another user: only its owner or an admin may change it`
      : `role ${who.role} may not change ${what}`,
  );
}

/** `?owner=me` or `?owner=<user id>` on every list of owned resources. */
export const ownerQuery = z
  .union([z.literal('me'), z.string().uuid()], { message: 'owner: "me" or a user id' })
  .optional();

/** The owner id a list is filtered by, or undefined for every owner. */
export function ownerFilter(
  owner: string | undefined,
  who: Pick<AuthenticatedPrincipal, 'ownerId'>,
): string | undefined {
  return owner === 'me' ? who.ownerId : owner;
}
