import { CvpApiError, CvpNetworkError } from './errors';
import type { TokenPair } from './types';

/** Supplies the Authorization header of each request, and new credentials after a 401. */
export interface AuthProvider {
  /** The header value for the next request, or undefined to send none. */
  authorization(): Promise<string | undefined>;
  /** Called once after a 401: true when new credentials were obtained and the request may be repeated. */
  renew?(): Promise<boolean>;
}

/** A fixed bearer credential: a JWT access token or an API key (cvp_...), e.g. from CVP_TOKEN in CI. */
export function tokenAuth(token: string): AuthProvider {
  return { authorization: async () => `Bearer ${token}` };
}

/** What `login` keeps: the token pair with absolute expiry times, and who it belongs to. */
export interface Session {
  /** Gateway origin the tokens were issued by. */
  url: string;
  username: string;
  role?: string;
  accessToken: string;
  refreshToken: string;
  /** ISO times. */
  accessExpiresAt: string;
  refreshExpiresAt: string;
}

/** Where a session lives (the CLI keeps it in a 0600 file); `exclusive` serialises refreshes across processes. */
export interface SessionStore {
  load(): Promise<Session | null>;
  save(session: Session | null): Promise<void>;
  /** Runs fn while no other holder of the same store refreshes (refresh tokens are single-use). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** The stored session is missing or its refresh token expired: the user must log in again. */
export class CvpSessionExpiredError extends Error {
  override readonly name = 'CvpSessionExpiredError';
}

export function sessionFromTokens(url: string, username: string, pair: TokenPair, now = Date.now()): Session {
  return {
    url,
    username,
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    accessExpiresAt: new Date(now + pair.expiresIn * 1000).toISOString(),
    refreshExpiresAt: new Date(now + pair.refreshExpiresIn * 1000).toISOString(),
  };
}

export interface SessionAuthOptions {
  /** Refresh this long before the access token expires (clock skew, slow requests). Default 60 s. */
  earlyMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * A logged-in session that refreshes itself: before the access token expires, and once after a
 * 401. The refresh runs under the store's lock and re-reads the store first, so two processes
 * sharing one session never spend the same refresh token twice (the gateway would revoke every
 * session of the user on reuse).
 */
export class SessionAuth implements AuthProvider {
  private readonly earlyMs: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  /** The refresh token of the session handed out last: a 401 means that session is no longer good. */
  private lastUsed = '';

  constructor(
    private readonly store: SessionStore,
    opts: SessionAuthOptions = {},
  ) {
    this.earlyMs = opts.earlyMs ?? 60_000;
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
  }

  async authorization(): Promise<string> {
    let s = await this.current();
    if (Date.parse(s.accessExpiresAt) - this.now() < this.earlyMs) s = await this.refresh(s.refreshToken);
    this.lastUsed = s.refreshToken;
    return `Bearer ${s.accessToken}`;
  }

  async renew(): Promise<boolean> {
    if (!(await this.store.load())) return false;
    await this.refresh(this.lastUsed);
    return true;
  }

  private async current(): Promise<Session> {
    const s = await this.store.load();
    if (!s) throw new CvpSessionExpiredError('not logged in');
    return s;
  }

  /**
   * Exchanges the refresh token, unless another process already replaced the session of `stale`
   * (refresh tokens are unique per issue; access tokens of the same second can be equal).
   */
  private refresh(stale: string): Promise<Session> {
    return this.store.exclusive(async () => {
      const s = await this.current();
      const fresh = Date.parse(s.accessExpiresAt) - this.now() >= this.earlyMs;
      if (s.refreshToken !== stale && fresh) return s;
      if (Date.parse(s.refreshExpiresAt) <= this.now()) {
        await this.store.save(null);
        throw new CvpSessionExpiredError(`the session of ${s.username} expired`);
      }
      const url = new URL('/api/v1/auth/refresh', s.url).toString();
      let res: Response;
      try {
        res = await this.fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refreshToken: s.refreshToken }),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (e) {
        throw CvpNetworkError.from(s.url, e);
      }
      const body = (await res.json().catch(() => undefined)) as unknown;
      if (res.status === 401) {
        await this.store.save(null);
        throw new CvpSessionExpiredError(`the session of ${s.username} was revoked or expired`);
      }
      if (!res.ok) throw CvpApiError.from(res, body);
      const next = { ...sessionFromTokens(s.url, s.username, body as TokenPair, this.now()), role: s.role };
      await this.store.save(next);
      return next;
    });
  }
}

/** A session kept in memory (one process): for programs that log in themselves. */
export class MemorySessionStore implements SessionStore {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private session: Session | null = null) {}
  async load() {
    return this.session;
  }
  async save(s: Session | null) {
    this.session = s;
  }
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
