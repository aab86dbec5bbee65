import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import type { Response } from 'express';
import type { VNode } from 'preact';
import { render } from 'preact-render-to-string';
import type { GatewayConfig } from '../config';
import type { UiRequest } from './session/ui-request';
import { uiConfig } from './ui.config';
import { UiAssets } from './ui-assets';
import type { PageContext } from './views/page-context';

/**
 * Same-origin everything: scripts and styles only from /ui/assets (no inline code, no eval), frames
 * only of our own reports, forms only to us, and nobody may frame the UI.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

export function setUiHeaders(res: Response, csp = UI_CSP): void {
  res.setHeader('Content-Security-Policy', csp);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  // htmx asks for fragments on the same URLs as whole pages: caches must keep them apart.
  res.setHeader('Vary', 'HX-Request');
}

/** Renders views: whole pages (with the layout's context) and htmx fragments, escaped by preact. */
@Injectable()
export class UiRenderer {
  private readonly refreshMs: number;

  constructor(
    private readonly assets: UiAssets,
    @InjectConfig() config: GatewayConfig,
  ) {
    this.refreshMs = uiConfig(config as unknown as Record<string, unknown>).CVP_UI_REFRESH_MS;
  }

  context(req: UiRequest): PageContext {
    return {
      user: req.user ?? null,
      csrfToken: req.uiSession?.csrfToken ?? null,
      path: (req.originalUrl ?? req.url).split('?')[0],
      refreshMs: this.refreshMs,
      assets: {
        css: this.assets.url('ui.css'),
        htmx: this.assets.url('htmx.min.js'),
        sse: this.assets.url('sse.js'),
        js: this.assets.url('ui.js'),
      },
    };
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any component's props
  page(res: Response, view: VNode<any>, status = 200): void {
    setUiHeaders(res);
    res
      .status(status)
      .type('text/html; charset=utf-8')
      .send(`<!doctype html>${render(view)}`);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any component's props
  fragment(res: Response, view: VNode<any>, status = 200): void {
    setUiHeaders(res);
    res.status(status).type('text/html; charset=utf-8').send(render(view));
  }
}
