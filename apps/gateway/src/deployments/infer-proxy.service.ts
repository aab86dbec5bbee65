import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { PROBLEM_CONTENT_TYPE } from '@cvp/contracts';
import { currentCorrelationId, problem, SERVICE_CONFIG } from '@cvp/platform';
import type { Request, Response } from 'express';
import { deploymentsConfig, type DeploymentsConfig } from './deployments.config';
import type { ServingTarget } from './deployments.service';

/** Query parameters the data plane's /detect and /classify understand; nothing else is forwarded. */
const FORWARDED_QUERY = ['conf', 'iou', 'max_det', 'imgsz', 'top_k', 'normalization'];
/** Response headers passed back to the client. */
const PASSED_BACK = ['content-type', 'content-length', 'retry-after'];

/**
 * Streams an image request to the data plane's /v2/models/<id>/detect|classify and the answer
 * back: the body is piped as bytes (never buffered or base64-encoded), every request is bounded
 * by a timeout, and the data plane's 429 + Retry-After reaches the client unchanged.
 */
@Injectable()
export class InferProxyService implements OnModuleDestroy {
  private readonly config: DeploymentsConfig;
  private readonly agent: http.Agent;
  private readonly base: URL;

  constructor(@Inject(SERVICE_CONFIG) config: Record<string, unknown>) {
    this.config = deploymentsConfig(config);
    this.base = new URL(this.config.CVP_INFERENCE_URL);
    const Agent = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: this.config.CVP_INFER_PROXY_SOCKETS, maxFreeSockets: 64 });
  }

  onModuleDestroy(): void {
    this.agent.destroy();
  }

  forward(req: Request, res: Response, target: ServingTarget): Promise<void> {
    const s = this.config;
    const fail = (status: number, detail: string, retryAfter?: number) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = problem(status, detail, { instance: req.originalUrl.split('?')[0] });
      const cid = currentCorrelationId();
      if (cid) body.correlationId = cid;
      if (retryAfter) res.setHeader('Retry-After', String(retryAfter));
      res.status(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > s.CVP_INFER_PROXY_MAX_BYTES) {
      req.resume();
      fail(413, `image of ${declared} bytes exceeds the ${s.CVP_INFER_PROXY_MAX_BYTES}-byte limit`);
      return Promise.resolve();
    }
    const query = new URLSearchParams();
    const incoming = new URL(req.originalUrl, 'http://x').searchParams;
    for (const k of FORWARDED_QUERY) {
      const v = incoming.get(k);
      if (v !== null) query.set(k, v);
    }
    const endpoint = target.task === 'classify' ? 'classify' : 'detect';
    const path = `${this.base.pathname.replace(/\/$/, '')}/v2/models/${encodeURIComponent(target.modelId)}/${endpoint}${query.size ? `?${query}` : ''}`;
    const headers: http.OutgoingHttpHeaders = {};
    // The caller's own credential: the data plane checks it again when it listens beyond loopback.
    for (const h of ['content-type', 'content-length', 'transfer-encoding', 'authorization'])
      if (req.headers[h] !== undefined) headers[h] = req.headers[h];
    const cid = currentCorrelationId();
    if (cid) headers['x-correlation-id'] = cid;

    return new Promise<void>((resolve) => {
      let settled = false;
      const done = () => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      const lib = this.base.protocol === 'https:' ? https : http;
      const upstream = lib.request({
        protocol: this.base.protocol,
        hostname: this.base.hostname,
        port: this.base.port,
        method: 'POST',
        path,
        headers,
        agent: this.agent,
        timeout: s.CVP_INFER_PROXY_TIMEOUT_MS,
      });
      const timer = setTimeout(
        () => upstream.destroy(Object.assign(new Error('timeout'), { code: 'CVP_PROXY_TIMEOUT' })),
        s.CVP_INFER_PROXY_TIMEOUT_MS,
      );
      upstream.on('timeout', () =>
        upstream.destroy(Object.assign(new Error('timeout'), { code: 'CVP_PROXY_TIMEOUT' })),
      );
      upstream.on('response', (up) => {
        res.status(up.statusCode ?? 502);
        for (const h of PASSED_BACK) {
          const v = up.headers[h];
          if (v !== undefined) res.setHeader(h, v);
        }
        pipeline(up, res, () => {
          clearTimeout(timer);
          done();
        });
      });
      upstream.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'CVP_PROXY_TIMEOUT')
          fail(504, `the data plane did not answer within ${s.CVP_INFER_PROXY_TIMEOUT_MS} ms`);
        else if (e.code === 'CVP_PROXY_TOO_LARGE')
          fail(413, `image exceeds the ${s.CVP_INFER_PROXY_MAX_BYTES}-byte limit`);
        else fail(503, `the data plane is unavailable (${e.code ?? e.message})`, 1);
        done();
      });
      // Stream the body through, counting bytes against the cap (chunked uploads have no Content-Length).
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > s.CVP_INFER_PROXY_MAX_BYTES) {
          req.unpipe(upstream);
          req.resume();
          upstream.destroy(Object.assign(new Error('too large'), { code: 'CVP_PROXY_TOO_LARGE' }));
        }
      });
      req.pipe(upstream);
      req.on('aborted', () => upstream.destroy());
    });
  }
}
