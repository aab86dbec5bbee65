import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import createClient, { type Client } from 'openapi-fetch';
import { TERMINAL_JOB_STATES } from '@cvp/contracts';
import type { BenchReport } from '@cvp/contracts';
import type { AuthProvider } from './auth';
import { CvpApiError, CvpNetworkError } from './errors';
import type { paths } from './generated/openapi';
import { postMultipart } from './multipart-upload';
import { type JobEvent, type JobEventReadOptions, readJobEvents } from './job-events';
import type {
  AcceptedModel,
  ApiKey,
  ApiKeyPage,
  Benchmark,
  CreateDeployment,
  CreatedApiKey,
  CreateUser,
  Dataset,
  DatasetPage,
  Deployment,
  GpuLeases,
  InferResult,
  Job,
  JobInputs,
  JobPage,
  JobType,
  Model,
  ModelPage,
  Package,
  Principal,
  SimpleReport,
  TokenPair,
  UpdateUser,
  User,
  UserPage,
} from './types';

export interface CvpClientOptions {
  /** Gateway origin, e.g. http://127.0.0.1:3000 (routes carry /api/v1 themselves). */
  url: string;
  auth?: AuthProvider;
  /** Bound of each JSON call, ms (uploads, downloads and event streams have their own). Default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
}

type ApiResult<T> = { data?: T; error?: unknown; response: Response };
type Query<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  parameters: { query?: infer Q };
}
  ? NonNullable<Q>
  : never;

export type ModelUploadFields = {
  format: 'onnx' | 'torchscript' | 'ultralytics' | 'tensorflow-savedmodel';
  task: 'detect' | 'classify';
  name?: string;
  /** N,C,H,W for sources without fixed shapes. */
  inputShape?: string;
  /** Class names: a JSON array or a comma-separated list. */
  labels?: string;
};
export type DatasetUploadFields = { format: 'yolo' | 'imagefolder'; name?: string };
export type InferQuery = Query<'/api/v1/models/{id}/infer', 'post'>;

export interface DownloadedFile {
  file: string;
  sha256: string;
  sizeBytes: number;
}

/**
 * The typed client of the cvp gateway: every route of its OpenAPI document (generated types,
 * openapi-fetch), grouped by resource, with errors as CvpApiError (the problem+json) or
 * CvpNetworkError, a bounded wait per call, one retry after a renewed credential on 401, job
 * event streams (SSE with resume), streamed uploads and verified downloads. `api` is the raw
 * typed client for anything else.
 */
export class CvpClient {
  readonly url: string;
  readonly api: Client<paths>;
  private readonly anonymous: Client<paths>;
  private readonly timeoutMs: number;

  constructor(private readonly opts: CvpClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const headers = { 'user-agent': opts.userAgent ?? 'cvp-sdk' };
    this.api = createClient<paths>({ baseUrl: this.url, headers });
    this.anonymous = createClient<paths>({ baseUrl: this.url, headers });
    const auth = opts.auth;
    if (auth)
      this.api.use({
        async onRequest({ request }) {
          const value = await auth.authorization();
          if (value) request.headers.set('authorization', value);
          return request;
        },
      });
  }

  /**
   * Runs one call: `send` is invoked again after a renewed credential (so bodies are rebuilt,
   * never replayed from a spent stream). `timeoutMs: null` leaves the call unbounded.
   */
  private async call<T>(
    send: (signal: AbortSignal | undefined) => Promise<ApiResult<T>>,
    timeoutMs: number | null = this.timeoutMs,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let r: ApiResult<T>;
      try {
        r = await send(timeoutMs === null ? undefined : AbortSignal.timeout(timeoutMs));
      } catch (e) {
        if (e instanceof Error && /Session|Cvp/.test(e.name)) throw e;
        throw CvpNetworkError.from(this.url, e);
      }
      if (r.response.ok) return r.data as T;
      if (r.response.status === 401 && attempt === 0 && (await this.opts.auth?.renew?.())) continue;
      throw CvpApiError.from(r.response, r.error);
    }
  }

  /** A multipart upload of a file from disk (the routes' types come from the same document). */
  private upload<T>(
    route: '/api/v1/models' | '/api/v1/datasets',
    file: string,
    fields: Record<string, string | undefined>,
  ) {
    return this.call<T>(async () => {
      const auth = await this.opts.auth?.authorization();
      const response = await postMultipart({
        url: `${this.url}${route}`,
        headers: { 'user-agent': this.opts.userAgent ?? 'cvp-sdk', ...(auth ? { authorization: auth } : {}) },
        fields,
        file,
      });
      const text = await response.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {
        /* not JSON: kept as text for the error */
      }
      return response.ok ? { data: json as T, response } : { error: json, response };
    }, null);
  }

  // ---- auth -----------------------------------------------------------------------------
  readonly auth = {
    login: (username: string, password: string): Promise<TokenPair> =>
      this.call((signal) => this.anonymous.POST('/api/v1/auth/login', { body: { username, password }, signal })),
    me: (): Promise<Principal> => this.call((signal) => this.api.GET('/api/v1/auth/me', { signal })),
  };

  // ---- models ---------------------------------------------------------------------------
  readonly models = {
    list: (query: Query<'/api/v1/models', 'get'> = {}): Promise<ModelPage> =>
      this.call((signal) => this.api.GET('/api/v1/models', { params: { query }, signal })),
    get: (id: string): Promise<Model> =>
      this.call((signal) => this.api.GET('/api/v1/models/{id}', { params: { path: { id } }, signal })),
    /** Streams the file from disk (multipart); the answer carries the conversion job. */
    upload: (file: string, fields: ModelUploadFields): Promise<AcceptedModel> =>
      this.upload<AcceptedModel>('/api/v1/models', file, fields),
    preset: (
      name: 'yolov8n' | 'yolov8s' | 'resnet50' | 'efficientnet_b0',
      body: { name?: string; labels?: string[] } = {},
    ): Promise<AcceptedModel> =>
      this.call((signal) =>
        this.api.POST('/api/v1/models/presets/{name}', { params: { path: { name } }, body, signal }),
      ),
    remove: (id: string): Promise<void> =>
      this.call((signal) => this.api.DELETE('/api/v1/models/{id}', { params: { path: { id } }, signal })),
    /** Runs the deployed model on an image: detections (detectors) or top-k classes (classifiers). */
    infer: (id: string, image: Uint8Array, contentType: string, query: InferQuery = {}): Promise<InferResult> =>
      this.call((signal) =>
        this.api.POST('/api/v1/models/{id}/infer', {
          params: { path: { id }, query },
          body: image as never,
          bodySerializer: (b) => b,
          headers: { 'content-type': contentType },
          signal,
        }),
      ),
  };

  // ---- datasets -------------------------------------------------------------------------
  readonly datasets = {
    list: (query: Query<'/api/v1/datasets', 'get'> = {}): Promise<DatasetPage> =>
      this.call((signal) => this.api.GET('/api/v1/datasets', { params: { query }, signal })),
    get: (id: string): Promise<Dataset> =>
      this.call((signal) => this.api.GET('/api/v1/datasets/{id}', { params: { path: { id } }, signal })),
    /** A zip, streamed from disk; a set that fails validation is a CvpApiError 422 carrying its report. */
    upload: (file: string, fields: DatasetUploadFields): Promise<Dataset> =>
      this.upload<Dataset>('/api/v1/datasets', file, fields),
    remove: (id: string): Promise<void> =>
      this.call((signal) => this.api.DELETE('/api/v1/datasets/{id}', { params: { path: { id } }, signal })),
  };

  // ---- jobs -----------------------------------------------------------------------------
  readonly jobs = {
    list: (query: Query<'/api/v1/jobs', 'get'> = {}): Promise<JobPage> =>
      this.call((signal) => this.api.GET('/api/v1/jobs', { params: { query }, signal })),
    get: (id: string): Promise<Job> =>
      this.call((signal) => this.api.GET('/api/v1/jobs/{id}', { params: { path: { id } }, signal })),
    create: <T extends JobType>(type: T, input: JobInputs[T]): Promise<Job> =>
      this.call((signal) =>
        this.api.POST('/api/v1/jobs/{type}', { params: { path: { type } }, body: input as never, signal }),
      ),
    cancel: (id: string): Promise<Job> =>
      this.call((signal) => this.api.POST('/api/v1/jobs/{id}/cancel', { params: { path: { id } }, signal })),
    /** The job's events (history, then live) until its terminal state; resumes after drops. */
    events: (id: string, opts: JobEventReadOptions = {}): AsyncGenerator<JobEvent> =>
      readJobEvents(
        {
          open: async (lastEventId, signal) => {
            const t = await this.call((s) =>
              this.api.POST('/api/v1/jobs/{id}/events/token', { params: { path: { id } }, signal: s }),
            );
            try {
              return await fetch(
                `${this.url}/api/v1/jobs/${encodeURIComponent(id)}/events?streamToken=${t.streamToken}`,
                {
                  headers: {
                    accept: 'text/event-stream',
                    ...(lastEventId ? { 'last-event-id': String(lastEventId) } : {}),
                  },
                  signal,
                },
              );
            } catch (e) {
              if (signal.aborted) throw e;
              throw CvpNetworkError.from(this.url, e);
            }
          },
          isFinished: async () => TERMINAL_JOB_STATES.includes((await this.jobs.get(id)).state),
        },
        opts,
      ),
    /** Follows the events until the job ends and returns its final state (any state: check it). */
    wait: async (id: string, onEvent?: (e: JobEvent) => void, opts: JobEventReadOptions = {}): Promise<Job> => {
      for await (const e of this.jobs.events(id, opts)) onEvent?.(e);
      return this.jobs.get(id);
    },
  };

  // ---- benchmarks -----------------------------------------------------------------------
  readonly benchmarks = {
    list: (query: Query<'/api/v1/benchmarks', 'get'> = {}): Promise<Benchmark[]> =>
      this.call((signal) => this.api.GET('/api/v1/benchmarks', { params: { query }, signal })),
    get: (id: string): Promise<Benchmark> =>
      this.call((signal) => this.api.GET('/api/v1/benchmarks/{id}', { params: { path: { id } }, signal })),
    /** The plain-language verdict. */
    simple: (id: string): Promise<SimpleReport> =>
      this.call((signal) =>
        this.api.GET('/api/v1/benchmarks/{id}/report', {
          params: { path: { id }, query: { view: 'simple', format: 'json' } },
          signal,
        }),
      ) as Promise<SimpleReport>,
    /** Every step, candidate and measurement, with the decision record. */
    technical: (id: string): Promise<BenchReport> =>
      this.call((signal) =>
        this.api.GET('/api/v1/benchmarks/{id}/report', {
          params: { path: { id }, query: { view: 'technical', format: 'json' } },
          signal,
        }),
      ) as Promise<unknown> as Promise<BenchReport>,
    /** A report as a self-contained HTML page. */
    html: (id: string, view: 'technical' | 'simple' = 'technical'): Promise<string> =>
      this.call((signal) =>
        this.api.GET('/api/v1/benchmarks/{id}/report', {
          params: { path: { id }, query: { view, format: 'html' } },
          parseAs: 'text',
          signal,
        }),
      ) as Promise<string>,
  };

  // ---- deployments ----------------------------------------------------------------------
  readonly deployments = {
    create: (body: CreateDeployment): Promise<Deployment> =>
      this.call((signal) => this.api.POST('/api/v1/deployments', { body: body as never, signal })),
    list: (query: Query<'/api/v1/deployments', 'get'> = {}): Promise<Deployment[]> =>
      this.call((signal) => this.api.GET('/api/v1/deployments', { params: { query }, signal })),
    get: (id: string): Promise<Deployment> =>
      this.call((signal) => this.api.GET('/api/v1/deployments/{id}', { params: { path: { id } }, signal })),
    remove: (id: string): Promise<Deployment> =>
      this.call((signal) => this.api.DELETE('/api/v1/deployments/{id}', { params: { path: { id } }, signal })),
    /** Polls until the deployment leaves `loading` (bounded); returns it in whatever state it reached. */
    settle: async (id: string, timeoutMs = 300_000, onState?: (d: Deployment) => void): Promise<Deployment> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await this.deployments.get(id);
        onState?.(d);
        if (d.state !== 'loading' || Date.now() > deadline) return d;
        await new Promise((r) => setTimeout(r, 500));
      }
    },
  };

  // ---- packages -------------------------------------------------------------------------
  readonly packages = {
    list: (query: Query<'/api/v1/packages', 'get'> = {}): Promise<Package[]> =>
      this.call((signal) => this.api.GET('/api/v1/packages', { params: { query }, signal })),
    get: (id: string): Promise<Package> =>
      this.call((signal) => this.api.GET('/api/v1/packages/{id}', { params: { path: { id } }, signal })),
    /**
     * Streams the tarball to `dest` (a folder: the server's file name inside it), checks its
     * SHA-256 against the one the server sent, and only then renames it into place.
     */
    download: async (id: string, dest: string): Promise<DownloadedFile> => {
      const res = await this.call(async (signal) => {
        const r = await this.api.GET('/api/v1/packages/{id}/download', {
          params: { path: { id } },
          parseAs: 'stream',
          signal,
        });
        return { ...r, data: r.response } as ApiResult<Response>;
      }, null);
      const expected = res.headers.get('x-checksum-sha256');
      const disposition = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
      const isDir = await fs
        .stat(dest)
        .then((s) => s.isDirectory())
        .catch(() => false);
      const file = isDir ? path.join(dest, path.basename(disposition ?? `${id}.tar.gz`)) : dest;
      const tmp = `${file}.${process.pid}.part`;
      const hash = createHash('sha256');
      let size = 0;
      try {
        const body = Readable.fromWeb(res.body as never);
        body.on('data', (c: Buffer) => {
          hash.update(c);
          size += c.length;
        });
        await pipeline(body, createWriteStream(tmp));
        const sha256 = hash.digest('hex');
        if (expected && expected !== sha256)
          throw new Error(`download of ${id} is corrupt: SHA-256 ${sha256}, the server said ${expected}`);
        await fs.rename(tmp, file);
        return { file, sha256, sizeBytes: size };
      } catch (e) {
        await fs.rm(tmp, { force: true });
        throw e;
      }
    },
  };

  // ---- GPU leases -----------------------------------------------------------------------
  readonly leases = {
    list: (): Promise<GpuLeases> => this.call((signal) => this.api.GET('/api/v1/gpu/leases', { signal })),
    forceRelease: (id: string): Promise<void> =>
      this.call((signal) => this.api.DELETE('/api/v1/gpu/leases/{id}', { params: { path: { id } }, signal })),
  };

  // ---- users and API keys (admin) -------------------------------------------------------
  readonly users = {
    list: (query: Query<'/api/v1/users', 'get'> = {}): Promise<UserPage> =>
      this.call((signal) => this.api.GET('/api/v1/users', { params: { query }, signal })),
    create: (body: CreateUser): Promise<User> =>
      this.call((signal) => this.api.POST('/api/v1/users', { body, signal })),
    update: (id: string, body: UpdateUser): Promise<User> =>
      this.call((signal) => this.api.PATCH('/api/v1/users/{id}', { params: { path: { id } }, body, signal })),
    remove: (id: string): Promise<void> =>
      this.call((signal) => this.api.DELETE('/api/v1/users/{id}', { params: { path: { id } }, signal })),
  };

  readonly apiKeys = {
    list: (query: Query<'/api/v1/api-keys', 'get'> = {}): Promise<ApiKeyPage> =>
      this.call((signal) => this.api.GET('/api/v1/api-keys', { params: { query }, signal })),
    create: (name: string): Promise<CreatedApiKey> =>
      this.call((signal) => this.api.POST('/api/v1/api-keys', { body: { name }, signal })),
    revoke: (id: string): Promise<ApiKey> =>
      this.call((signal) => this.api.DELETE('/api/v1/api-keys/{id}', { params: { path: { id } }, signal })),
  };
}
