import { type ArgumentsHost, Catch, type ExceptionFilter, Injectable, Logger } from '@nestjs/common';
import { ProblemDetailsFilter } from '@cvp/platform';
import type { Response } from 'express';
import { h } from 'preact';
import { isHtmx, type UiRequest } from './session/ui-request';
import { UiRenderer } from './ui-renderer';
import { ErrorNotice, ErrorPage } from './views/error.view';

/**
 * Errors of web UI routes as HTML, not problem+json: not signed in -> the sign-in page (htmx:
 * HX-Redirect), anything else -> an error page, or a message in the page's #flash region for htmx
 * requests. The status and the detail are the ones REST would give (same exceptions, same filter
 * logic); 5xx details stay in the log.
 */
@Catch()
@Injectable()
export class UiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('UiExceptionFilter');
  private readonly problems = new ProblemDetailsFilter();

  constructor(private readonly renderer: UiRenderer) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<UiRequest>();
    if (res.headersSent) {
      res.end();
      return;
    }
    const p = this.problems.toProblem(exception);
    if (p.status >= 500)
      this.logger.error(`${req.method} ${req.originalUrl}: ${(exception as Error)?.stack ?? exception}`);
    const retryAfter = (exception as { retryAfterSeconds?: number })?.retryAfterSeconds;
    if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
    if (p.status === 401 && !req.user) {
      const next = req.method === 'GET' ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
      if (isHtmx(req)) {
        res.setHeader('HX-Redirect', `/ui/login${next}`);
        res.status(401).end();
      } else res.redirect(303, `/ui/login${next}`);
      return;
    }
    const detail =
      p.status >= 500 ? 'internal error; the correlation id identifies it in the logs' : (p.detail ?? p.title);
    if (isHtmx(req)) {
      res.setHeader('HX-Retarget', '#flash');
      res.setHeader('HX-Reswap', 'innerHTML');
      this.renderer.fragment(res, h(ErrorNotice, { status: p.status, detail }), p.status);
    } else {
      this.renderer.page(res, h(ErrorPage, { ctx: this.renderer.context(req), status: p.status, detail }), p.status);
    }
  }
}
