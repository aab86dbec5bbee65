import type { Request } from 'express';
import type { AuthenticatedPrincipal } from '../../auth/principal';

/** A request to the web UI: the principal (session or bearer) and, when signed in by cookie, its session. */
export type UiRequest = Request & {
  user?: AuthenticatedPrincipal;
  uiSession?: { tokenHash: string; csrfToken: string };
};

/** htmx sets HX-Request on the requests it makes (fragments are answered instead of whole pages). */
export const isHtmx = (req: Request) => req.headers['hx-request'] === 'true';
