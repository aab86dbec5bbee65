import { type AuthProvider, CvpClient, SessionAuth, tokenAuth } from '@cvp/sdk';
import { configDir, FileSessionStore } from './config/session-file';
import { colorEnabled, type CliIo } from './io';
import { Printer } from './output/printer';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** Options every command accepts (before or after its own). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
  color?: boolean;
  /** seconds, per API call */
  timeout?: number;
}

/** What a command works with: its output, the session file, and a client for the right gateway. */
export class CliContext {
  readonly printer: Printer;
  readonly sessions: FileSessionStore;

  constructor(
    readonly io: CliIo,
    readonly opts: GlobalOptions,
    readonly version: string,
  ) {
    this.printer = new Printer(io, !!opts.json, colorEnabled(io, opts.color !== false));
    this.sessions = new FileSessionStore(configDir(io));
  }

  get json(): boolean {
    return !!this.opts.json;
  }

  /** --url, else CVP_URL, else the logged-in session's gateway, else the local default. */
  async url(): Promise<string> {
    const explicit = this.opts.url ?? this.io.env.CVP_URL;
    if (explicit) return explicit.replace(/\/+$/, '');
    return (await this.sessions.load())?.url ?? DEFAULT_URL;
  }

  /** --token, else CVP_TOKEN (a JWT or an API key): for CI, no session file involved. */
  token(): string | undefined {
    return this.opts.token ?? (this.io.env.CVP_TOKEN || undefined);
  }

  /**
   * How requests authenticate: the token when given; else the saved session when it belongs to
   * this gateway (a session is never sent to another URL); else nothing, so the call asks to log in.
   */
  async auth(url: string): Promise<{ provider: AuthProvider; source: 'token' | 'session' }> {
    const token = this.token();
    if (token) return { provider: tokenAuth(token), source: 'token' };
    const s = await this.sessions.load();
    const store = s && s.url !== url ? new ForeignSessionGuard(url) : this.sessions;
    return { provider: new SessionAuth(store), source: 'session' };
  }

  async client(opts: { timeoutMs?: number } = {}): Promise<CvpClient> {
    const url = await this.url();
    const { provider } = await this.auth(url);
    return new CvpClient({
      url,
      auth: provider,
      timeoutMs: opts.timeoutMs ?? (this.opts.timeout ? this.opts.timeout * 1000 : undefined),
      userAgent: `cvp-cli/${this.version}`,
    });
  }

  /** A client without credentials (login). */
  async anonymousClient(): Promise<CvpClient> {
    return new CvpClient({ url: await this.url(), userAgent: `cvp-cli/${this.version}` });
  }
}

/** Stands in for the session store when the saved session is for another gateway: "not logged in". */
class ForeignSessionGuard {
  constructor(private readonly url: string) {}
  async load() {
    return null;
  }
  async save() {
    throw new Error(`not logged in to ${this.url}`);
  }
  exclusive<T>(fn: () => Promise<T>) {
    return fn();
  }
}
