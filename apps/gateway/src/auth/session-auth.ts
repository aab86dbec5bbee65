import { SetMetadata } from '@nestjs/common';
import type { Request } from 'express';
import type { AuthenticatedPrincipal } from './principal';

export const SESSION_AUTH_KEY = 'cvp:session-auth';

/**
 * Marks routes (the web UI's) that also accept the browser session cookie in place of a bearer
 * token. Only such routes do: they check a CSRF token on every non-GET, which REST routes do not,
 * so an ambient cookie must never authenticate a REST call.
 */
export const SessionAuth = () => SetMetadata(SESSION_AUTH_KEY, true);

/** Turns a request's session cookie into the same principal a bearer token of that user gives. */
export interface SessionAuthenticator {
  authenticate(req: Request): Promise<AuthenticatedPrincipal | null>;
}
export const SESSION_AUTHENTICATOR = Symbol('SESSION_AUTHENTICATOR');
