import { Get, HttpException, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import { Public, Roles } from '@cvp/platform';
import { ROLES } from '@cvp/contracts';
import type { Response } from 'express';
import { h } from 'preact';
import { loginSchema } from '../../auth/auth.dto';
import { AuthService } from '../../auth/auth.service';
import type { AuditedRequest } from '../../audit/audit.middleware';
import { fieldErrors, text, UiController } from '../ui-controller';
import { UiRenderer } from '../ui-renderer';
import type { FieldErrors } from '../views/page-context';
import { LoginPage } from './login.view';
import type { UiRequest } from './ui-request';
import { UiSessionsService } from './ui-sessions.service';

/** Only paths of the UI itself are followed after sign-in (no open redirect). */
export function safeNext(next: string | undefined): string {
  return next && /^\/ui(\/[^\s\\]*)?(\?[^\s\\]*)?$/.test(next) && !next.startsWith('//') ? next : '/ui';
}

@UiController('ui')
export class UiAuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly sessions: UiSessionsService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get('login')
  @Public()
  async loginPage(@Req() req: UiRequest, @Res() res: Response, @Query('next') next?: string) {
    if (await this.sessions.authenticate(req)) return res.redirect(303, safeNext(next));
    this.renderLogin(req, res, 200, { next: safeNext(next) });
  }

  /** The same credential check, lockout and throttling as POST /api/v1/auth/login; audited as UiAuthController.login. */
  @Post('login')
  @Public()
  @UseGuards(ThrottlerGuard)
  async login(@Req() req: UiRequest & AuditedRequest, @Res() res: Response) {
    const next = safeNext(text(req.body, 'next'));
    const username = text(req.body, 'username');
    if (req.auditNote && username) req.auditNote.detail = `username=${username.slice(0, 64)}`;
    const parsed = loginSchema.safeParse({ username, password: text(req.body, 'password') });
    if (!parsed.success) return this.renderLogin(req, res, 400, { username, next, errors: fieldErrors(parsed.error) });
    try {
      const user = await this.auth.verifyCredentials(parsed.data.username, parsed.data.password);
      await this.sessions.start(user, res, req.headers['user-agent']);
      res.redirect(303, next);
    } catch (e) {
      if (!(e instanceof HttpException) || (e.getStatus() !== 401 && e.getStatus() !== 429)) throw e;
      const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retry !== undefined) res.setHeader('Retry-After', String(retry));
      this.renderLogin(req, res, e.getStatus(), { username, next, errors: { _form: e.message } });
    }
  }

  @Post('logout')
  @Roles(...ROLES)
  async logout(@Req() req: UiRequest, @Res() res: Response) {
    await this.sessions.end(req, res);
    res.redirect(303, '/ui/login');
  }

  private renderLogin(
    req: UiRequest,
    res: Response,
    status: number,
    form: { username?: string; next?: string; errors?: FieldErrors },
  ) {
    const loginCsrf = this.sessions.issueLoginCsrf(res);
    this.renderer.page(res, h(LoginPage, { ctx: this.renderer.context(req), form: { ...form, loginCsrf } }), status);
  }
}
