import type { AuthenticatedPrincipal } from '../../auth/principal';

/** What every page knows about the request: who is signed in, their CSRF token, and where they are. */
export interface PageContext {
  user: AuthenticatedPrincipal | null;
  csrfToken: string | null;
  /** The request path (the navigation marks the current section). */
  path: string;
  /** How often live parts of pages poll, ms. */
  refreshMs: number;
  /** Asset URLs by name (content-hashed for long caching). */
  assets: Record<'css' | 'htmx' | 'sse' | 'js', string>;
}

/** Engineers and admins act; viewers only see. */
export const canAct = (ctx: PageContext) => ctx.user?.role === 'admin' || ctx.user?.role === 'engineer';
export const isAdmin = (ctx: PageContext) => ctx.user?.role === 'admin';

/** Field name -> problem, shown next to the field. */
export type FieldErrors = Record<string, string>;
