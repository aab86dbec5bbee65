import type { ComponentChildren } from 'preact';
import { CSRF_FIELD } from '../session/csrf.guard';
import { isAdmin, type PageContext } from './page-context';

const SECTIONS: { href: string; label: string; admin?: boolean }[] = [
  { href: '/ui', label: 'Overview' },
  { href: '/ui/models', label: 'Models' },
  { href: '/ui/datasets', label: 'Data sets' },
  { href: '/ui/jobs', label: 'Jobs' },
  { href: '/ui/benchmarks', label: 'Benchmarks' },
  { href: '/ui/deployments', label: 'Deployments' },
  { href: '/ui/gpu', label: 'GPU' },
  { href: '/ui/admin', label: 'Admin', admin: true },
];

/**
 * htmx settings: fragments answered 4xx (form problems, refusals) are swapped in like 2xx ones, no
 * eval of attribute code (the CSP forbids it anyway), no inline indicator styles (ui.css has them).
 */
export const HTMX_CONFIG = {
  allowEval: false,
  allowScriptTags: false,
  includeIndicatorStyles: false,
  selfRequestsOnly: true,
  historyCacheSize: 0,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '[4]..', swap: true, error: true },
    { code: '...', swap: false, error: true },
  ],
};

function current(ctx: PageContext, href: string): boolean {
  return href === '/ui' ? ctx.path === '/ui' || ctx.path === '/ui/' : ctx.path.startsWith(href);
}

/** The page shell: header with navigation and sign-out, a live region for messages, the page's content. */
export function Layout({ ctx, title, children }: { ctx: PageContext; title: string; children: ComponentChildren }) {
  const signedIn = !!ctx.user;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content={JSON.stringify(HTMX_CONFIG)} />
        <title>{`${title} · cvp`}</title>
        <link rel="stylesheet" href={ctx.assets.css} />
        <script src={ctx.assets.htmx} defer></script>
        <script src={ctx.assets.sse} defer></script>
        <script src={ctx.assets.js} defer></script>
      </head>
      <body hx-headers={ctx.csrfToken ? JSON.stringify({ 'X-CSRF-Token': ctx.csrfToken }) : undefined}>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/ui">
            cvp
          </a>
          {signedIn && (
            <nav aria-label="Sections">
              <ul>
                {SECTIONS.filter((s) => !s.admin || isAdmin(ctx)).map((s) => (
                  <li key={s.href}>
                    <a href={s.href} aria-current={current(ctx, s.href) ? 'page' : undefined}>
                      {s.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          )}
          {signedIn && (
            <form class="signout" method="post" action="/ui/logout">
              <input type="hidden" name={CSRF_FIELD} value={ctx.csrfToken ?? ''} />
              <span class="who">
                {ctx.user!.name} <span class="role">({ctx.user!.role})</span>
              </span>
              <button type="submit" class="link">
                Sign out
              </button>
            </form>
          )}
        </header>
        <main id="main" tabIndex={-1}>
          <h1>{title}</h1>
          <div id="flash" role="status" aria-live="polite"></div>
          {children}
        </main>
      </body>
    </html>
  );
}
