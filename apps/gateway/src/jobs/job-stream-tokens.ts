import { createHmac, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import { jobsConfig } from './jobs.config';

interface Grant {
  /** job id */
  j: string;
  /** principal id */
  p: string;
  /** expiry, epoch ms */
  e: number;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * Short-lived, single-purpose tokens for SSE: EventSource cannot send an Authorization header,
 * and a bearer token in a URL ends up in logs and history. A stream token only opens the event
 * stream of one job, for a few minutes (EventSource reconnects reuse it), and is worth nothing
 * anywhere else. Tokens are signed (HMAC-SHA256 with a key derived from CVP_JWT_SECRET, which every
 * gateway replica shares), so any replica verifies what another issued and nothing is kept in memory.
 */
@Injectable()
export class JobStreamTokens {
  private readonly ttlMs: number;
  private readonly key: Buffer;

  constructor(@InjectConfig() config: Record<string, unknown>) {
    this.ttlMs = jobsConfig(config).CVP_JOB_STREAM_TOKEN_TTL_S * 1000;
    const secret = config.CVP_JWT_SECRET;
    if (typeof secret !== 'string' || secret.length === 0) throw new Error('CVP_JWT_SECRET is required');
    // A key of its own: a stream token can never pass for a session JWT or a CSRF value.
    this.key = createHmac('sha256', secret).update('cvp-job-stream-token').digest();
  }

  issue(jobId: string, principalId: string): { token: string; expiresAt: Date } {
    const expiresAt = Date.now() + this.ttlMs;
    const body = b64(JSON.stringify({ j: jobId, p: principalId, e: expiresAt } satisfies Grant));
    return { token: `${body}.${this.sign(body)}`, expiresAt: new Date(expiresAt) };
  }

  /** The principal the token was issued to, when it is valid for this job. */
  verify(token: string | undefined, jobId: string): string | undefined {
    if (!token || token.length > 1024) return undefined;
    const [body, sig, extra] = token.split('.');
    if (!body || !sig || extra !== undefined) return undefined;
    const want = Buffer.from(this.sign(body));
    const got = Buffer.from(sig);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    let g: Grant;
    try {
      g = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Grant;
    } catch {
      return undefined;
    }
    if (g.j !== jobId || typeof g.e !== 'number' || g.e < Date.now() || typeof g.p !== 'string') return undefined;
    return g.p;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/** For request loggers: hides stream tokens in URLs (`?streamToken=...`). */
export function redactStreamToken(url: string): string {
  return url.replace(/([?&]streamToken=)[^&#]*/gi, '$1[redacted]');
}
