import { SetMetadata } from '@nestjs/common';
import type { Principal } from '@cvp/contracts';

/**
 * Route access declarations. The gateway's global guard denies by default: a route without
 * one of these is refused, and a test walks every route to prove each declares one.
 */
export const ACCESS_KEY = 'cvp:access';
export type AccessDeclaration = { public: true } | { roles: Principal[] };

/** Open to anyone (health probes, metrics scraped on loopback, login). */
export const Public = () => SetMetadata(ACCESS_KEY, { public: true } satisfies AccessDeclaration);
/** Open to the listed roles (and `infer` for API keys). */
export const Roles = (...roles: Principal[]) => SetMetadata(ACCESS_KEY, { roles } satisfies AccessDeclaration);
