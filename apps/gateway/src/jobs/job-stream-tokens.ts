import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import { jobsConfig } from './jobs.config';

interface Grant {
  jobId: string;
  principalId: string;
  expiresAt: number;
}

const MAX_TOKENS = 10_000;

/**
 * Short-lived, single-purpose tokens for SSE: EventSource cannot send an Authorization header,
 * and a bearer token in a URL ends up in logs and history. A stream token only opens the event
 * stream of one job, for a few minutes (EventSource reconnects reuse it), and is worth nothing
 * anywhere else.
 */
@Injectable()
export class JobStreamTokens {
  private readonly grants = new Map<string, Grant>();
  private readonly ttlMs: number;

  constructor(@InjectConfig() config: Record<string, unknown>) {
    this.ttlMs = jobsConfig(config).CVP_JOB_STREAM_TOKEN_TTL_S * 1000;
  }

  issue(jobId: string, principalId: string): { token: string; expiresAt: Date } {
    this.prune();
    if (this.grants.size >= MAX_TOKENS) {
      // Bounded: the oldest grant goes first.
      const oldest = this.grants.keys().next().value;
      if (oldest) this.grants.delete(oldest);
    }
    const token = randomBytes(24).toString('base64url');
    const expiresAt = Date.now() + this.ttlMs;
    this.grants.set(token, { jobId, principalId, expiresAt });
    return { token, expiresAt: new Date(expiresAt) };
  }

  /** The principal the token was issued to, when it is valid for this job. */
  verify(token: string | undefined, jobId: string): string | undefined {
    if (!token) return undefined;
    const g = this.grants.get(token);
    if (!g || g.expiresAt < Date.now() || g.jobId !== jobId) return undefined;
    return g.principalId;
  }

  private prune(): void {
    const t = Date.now();
    for (const [k, g] of this.grants) if (g.expiresAt < t) this.grants.delete(k);
  }
}

/** For request loggers: hides stream tokens in URLs (`?streamToken=...`). */
export function redactStreamToken(url: string): string {
  return url.replace(/([?&]streamToken=)[^&#]*/gi, '$1[redacted]');
}
