import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  CredentialVerifyContract,
  type CredentialVerifyReply,
  CredentialVerifyReplyContract,
  Subjects,
} from '@cvp/contracts';
import { MessageBus } from '@cvp/platform';
import { sendProblem } from '../kserve/http-util';
import { modelNameOf } from '../kserve/kserve.routes';
import { ModelRepository } from '../repository/model-repository.service';

export const DATA_PLANE_AUTH_OPTIONS = Symbol('DATA_PLANE_AUTH_OPTIONS');
export interface DataPlaneAuthOptions {
  /** Whether /v2 requests need a credential (resolved from CVP_INFER_AUTH and the bind address). */
  required: boolean;
  /** When set, GET /metrics needs `Authorization: Bearer <this>`. */
  metricsToken?: string;
  /** Bound on one credential check through the gateway. */
  verifyTimeoutMs: number;
  /** Credentials whose answer is kept (least recently checked dropped first). */
  cacheEntries: number;
}

/** Open without a credential: liveness and readiness (orchestrators probe them). */
const OPEN_PATHS = new Set(['/v2/health/live', '/v2/health/ready']);

interface Verdict {
  reply: Omit<CredentialVerifyReply, 'schemaVersion'>;
  until: number;
}

/** `auto`: required unless the service listens on loopback only. */
export function dataPlaneAuthRequired(mode: 'auto' | 'required' | 'off', host: string): boolean {
  if (mode !== 'auto') return mode === 'required';
  return !(host === '::1' || host.startsWith('127.'));
}

/**
 * The data plane's one authentication step, mounted ahead of admission and of any body reading:
 * `Authorization: Bearer <API key or gateway access token>` on every /v2 route but health (on a
 * scratch deployment's own routes, the credential bench announced with it also serves). The
 * gateway answers who a credential is (cvp.auth.verify) and for how long that answer holds, so
 * this service never holds the JWT secret or the key table; answers are cached by the
 * credential's SHA-256 and concurrent checks of one credential share one request.
 */
@Injectable()
export class DataPlaneAuth {
  private readonly log = new Logger('DataPlaneAuth');
  private readonly cache = new Map<string, Verdict>();
  private readonly pending = new Map<string, Promise<Verdict>>();

  constructor(
    private readonly bus: MessageBus,
    private readonly models: ModelRepository,
    @Inject(DATA_PLANE_AUTH_OPTIONS) private readonly opts: DataPlaneAuthOptions,
  ) {}

  readonly middleware = (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void): void => {
    const url = req.url ?? '/';
    const pathname = url.split('?', 1)[0];
    if (pathname === '/metrics' && this.opts.metricsToken) {
      if (this.matchesMetricsToken(req)) return next();
      return this.refuse(req, res, 401, 'metrics need Authorization: Bearer <CVP_METRICS_TOKEN>', pathname);
    }
    if (!this.opts.required || !url.startsWith('/v2') || OPEN_PATHS.has(pathname.replace(/\/$/, ''))) return next();
    const credential = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!credential)
      return this.refuse(
        req,
        res,
        401,
        'missing credential: send Authorization: Bearer <API key or access token>',
        pathname,
      );
    if (this.scratchAccepts(pathname, credential)) return next();
    this.check(credential).then(
      (v) => {
        if (v.reply.valid) return next();
        this.refuse(req, res, 401, v.reply.reason ?? 'invalid credential', pathname);
      },
      (e: Error) => {
        this.log.warn(`credential check unavailable: ${e.message}`);
        this.refuse(req, res, 503, 'credential check unavailable (gateway unreachable); retry', pathname, 1);
      },
    );
  };

  /** The cached or fresh verdict on one credential. */
  async check(credential: string): Promise<Verdict> {
    const key = createHash('sha256').update(credential).digest('hex');
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) {
      this.cache.delete(key); // re-insert: Map order is the eviction order
      this.cache.set(key, hit);
      return hit;
    }
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const p = this.bus
      .request(
        CredentialVerifyContract,
        CredentialVerifyReplyContract,
        Subjects.credentialVerify,
        { credential },
        this.opts.verifyTimeoutMs,
      )
      .then((reply) => {
        const v = { reply, until: Date.now() + reply.cacheMs };
        this.cache.delete(key);
        this.cache.set(key, v);
        while (this.cache.size > this.opts.cacheEntries) this.cache.delete(this.cache.keys().next().value!);
        return v;
      })
      .finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  /**
   * Bench's scratch deployments bring their own credential (its SHA-256 came with the deployment
   * event): valid on that model's routes only, while it is served, and never asked of the gateway.
   */
  private scratchAccepts(pathname: string, credential: string): boolean {
    const name = modelNameOf(pathname);
    const expected = name === undefined ? undefined : this.models.get(name)?.scratchCredentialSha256;
    return expected !== undefined && timingSafeEqual(createHash('sha256').update(credential).digest(), expected);
  }

  private matchesMetricsToken(req: IncomingMessage): boolean {
    const presented = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = createHash('sha256').update(presented).digest();
    const b = createHash('sha256').update(this.opts.metricsToken!).digest();
    return timingSafeEqual(a, b);
  }

  /** Answers without reading the body; the connection closes so an unread upload cannot linger. */
  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    detail: string,
    instance: string,
    retryAfterSeconds?: number,
  ): void {
    res.setHeader('connection', 'close');
    if (status === 401) res.setHeader('www-authenticate', 'Bearer realm="cvp-inference"');
    sendProblem(res, status, detail, instance, retryAfterSeconds);
    req.resume();
  }
}
