import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { InjectConfig } from '@cvp/platform';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import type { Response } from 'express';
import { LessThan, Repository } from 'typeorm';
import type { AuthenticatedPrincipal } from '../../auth/principal';
import type { SessionAuthenticator } from '../../auth/session-auth';
import type { GatewayConfig } from '../../config';
import type { UserEntity } from '../../users/user.entity';
import { UsersService } from '../../users/users.service';
import { uiConfig } from '../ui.config';
import type { UiRequest } from './ui-request';
import { UiSessionEntity } from './ui-session.entity';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const token = () => randomBytes(32).toString('base64url');
/** Writes of last_seen_at are spaced out: a page full of htmx polls must not write on every request. */
const TOUCH_EVERY_MS = 60_000;

export function safeEqual(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Server-side sessions of the web UI, stored in the gateway database. The cookie carries a random
 * token (HttpOnly, SameSite=Strict, Secure outside development); the row holds its hash, the
 * user, a CSRF synchronizer token, and a tag of the user's password hash. A session ends at its
 * absolute expiry, after idling, at sign-out, when the user is disabled or deleted, or when the
 * password changes. The role is read from the user row on every request, as for bearer tokens.
 */
@Injectable()
export class UiSessionsService implements SessionAuthenticator {
  readonly secure: boolean;
  /** `__Host-` pins the cookie to this host and path / (browsers only accept it with Secure). */
  readonly sessionCookie: string;
  readonly loginCsrfCookie: string;
  private readonly ttlMs: number;
  private readonly idleMs: number;
  private readonly loginCsrfKey: Buffer;

  constructor(
    @InjectRepository(UiSessionEntity) private readonly sessions: Repository<UiSessionEntity>,
    private readonly users: UsersService,
    @InjectConfig() config: GatewayConfig,
  ) {
    const c = uiConfig(config as unknown as Record<string, unknown>);
    this.secure = config.NODE_ENV !== 'development';
    this.sessionCookie = this.secure ? '__Host-cvp_session' : 'cvp_session';
    this.loginCsrfCookie = this.secure ? '__Host-cvp_login_csrf' : 'cvp_login_csrf';
    this.ttlMs = c.CVP_UI_SESSION_TTL_S * 1000;
    this.idleMs = c.CVP_UI_SESSION_IDLE_S * 1000;
    // A key of its own, derived from the signing secret, so login-form tokens are worth nothing as JWTs.
    this.loginCsrfKey = createHmac('sha256', config.CVP_JWT_SECRET).update('cvp-ui-login-csrf').digest();
  }

  /** Starts a session for a user who just proved their password; sets the cookie. */
  async start(user: UserEntity, res: Response, userAgent?: string): Promise<void> {
    const now = Date.now();
    await this.sessions.delete({ expiresAt: LessThan(new Date(now).toISOString()) });
    const t = token();
    await this.sessions.insert({
      tokenHash: sha256(t),
      userId: user.id,
      csrfToken: token(),
      credentialTag: credentialTag(user),
      createdAt: new Date(now).toISOString(),
      lastSeenAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.ttlMs).toISOString(),
      userAgent: userAgent?.slice(0, 200) ?? null,
    });
    this.setCookie(res, this.sessionCookie, t, Math.floor(this.ttlMs / 1000));
  }

  /** The principal of the request's session cookie, or null; remembers the session on the request for CSRF. */
  async authenticate(req: UiRequest): Promise<AuthenticatedPrincipal | null> {
    const t = this.cookie(req, this.sessionCookie);
    if (!t) return null;
    const row = await this.sessions.findOneBy({ tokenHash: sha256(t) });
    if (!row) return null;
    const now = Date.now();
    const user = await this.users.findById(row.userId);
    const ended =
      Date.parse(row.expiresAt) <= now ||
      Date.parse(row.lastSeenAt) + this.idleMs <= now ||
      !user ||
      user.disabled ||
      !safeEqual(row.credentialTag, credentialTag(user));
    if (ended || !user) {
      await this.sessions.delete({ tokenHash: row.tokenHash });
      return null;
    }
    if (now - Date.parse(row.lastSeenAt) > TOUCH_EVERY_MS)
      await this.sessions.update({ tokenHash: row.tokenHash }, { lastSeenAt: new Date(now).toISOString() });
    req.uiSession = { tokenHash: row.tokenHash, csrfToken: row.csrfToken };
    return { kind: 'user', id: user.id, ownerId: user.id, name: user.username, role: user.role };
  }

  /** Signs out: the row goes (the cookie is worthless from now on, wherever it was copied) and the cookie is cleared. */
  async end(req: UiRequest, res: Response): Promise<void> {
    const t = this.cookie(req, this.sessionCookie);
    if (t) await this.sessions.delete({ tokenHash: sha256(t) });
    this.setCookie(res, this.sessionCookie, '', 0);
  }

  /** Sessions of a user that are still open (for tests and the admin's view). */
  countFor(userId: string): Promise<number> {
    return this.sessions.countBy({ userId });
  }

  // ---- The sign-in form has no session yet: a double-submit token (cookie + hidden field), HMAC-signed.

  issueLoginCsrf(res: Response): string {
    const nonce = token();
    const value = `${nonce}.${createHmac('sha256', this.loginCsrfKey).update(nonce).digest('base64url')}`;
    this.setCookie(res, this.loginCsrfCookie, value, 3600);
    return value;
  }

  verifyLoginCsrf(req: UiRequest, presented: string | undefined): boolean {
    const fromCookie = this.cookie(req, this.loginCsrfCookie);
    if (!presented || !safeEqual(fromCookie, presented)) return false;
    const [nonce, mac] = presented.split('.');
    if (!nonce || !mac) return false;
    return safeEqual(mac, createHmac('sha256', this.loginCsrfKey).update(nonce).digest('base64url'));
  }

  private cookie(req: UiRequest, name: string): string | undefined {
    const header = req.headers.cookie;
    if (!header || header.length > 8192) return undefined;
    return parseCookies(header)[name];
  }

  private setCookie(res: Response, name: string, value: string, maxAgeS: number): void {
    res.append(
      'Set-Cookie',
      serializeCookie(name, value, {
        httpOnly: true,
        sameSite: 'strict',
        secure: this.secure,
        path: '/',
        maxAge: maxAgeS,
      }),
    );
  }
}

/** A short tag of the password hash: equal while the password is unchanged, and no use to a reader of the table. */
function credentialTag(user: UserEntity): string {
  return sha256(`cvp-ui-session:${user.passwordHash}`).slice(0, 32);
}
