import { artifactsConfigShape } from '@cvp/artifacts';
import { baseConfigSchema, portKey } from '@cvp/platform';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { gpuLeaseConfigShape } from './gpu-leases/gpu-leases.config';
import { jobsConfigShape } from './jobs/jobs.config';
import { deploymentsConfigShape } from './deployments/deployments.config';
import { limitsConfigShape } from './limits/limits.config';
import { uiConfigShape } from './ui/ui.config';

/** Guessable secrets seen in docs and examples: refused outside development. */
export const KNOWN_DEFAULT_SECRETS = new Set([
  'secret',
  'changeme',
  'change-me',
  'jwt-secret',
  'jwtsecret',
  'your-secret',
  'mysecret',
  'supersecret',
  'cvp',
  'cvp-secret',
]);
export const MIN_JWT_SECRET_LENGTH = 32;

const int = (def: number, min = 1, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

/** gateway config: environment values validated at start-up; every key has a local default. */
export const gatewayConfigSchema = baseConfigSchema
  .extend({
    /** Where artifacts move between hosts (CVP_ARTIFACTS, local by default). */
    ...artifactsConfigShape,
    CVP_GATEWAY_PORT: portKey(3000),
    CVP_DB_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    /** SQLite file outside the data dir (absolute path); unset = gateway.sqlite in the data dir. */
    CVP_DB_FILE: z.string().refine(path.isAbsolute, 'must be an absolute path').optional(),
    /** PostgreSQL connections per gateway process (server max_connections >= replicas x this + headroom). */
    CVP_DB_POOL_SIZE: int(10, 1, 200),
    ...jobsConfigShape,
    ...deploymentsConfigShape,
    ...gpuLeaseConfigShape,
    ...limitsConfigShape,
    ...uiConfigShape,

    // auth
    /** Unset in development: a random per-process secret (tokens end with the process). */
    CVP_JWT_SECRET: z.string().optional(),
    CVP_JWT_ACCESS_TTL_S: int(900, 10, 86_400),
    CVP_JWT_REFRESH_TTL_S: int(7 * 86_400, 60, 90 * 86_400),
    CVP_BCRYPT_ROUNDS: int(12, 4, 15),
    /** Failed logins in a row before the account is locked for CVP_LOGIN_LOCKOUT_S. */
    CVP_LOGIN_MAX_FAILURES: int(5, 1, 100),
    CVP_LOGIN_LOCKOUT_S: int(900, 1, 86_400),
    /** Login attempts per client address per window (throttler), independent of the account lockout. */
    CVP_LOGIN_THROTTLE_LIMIT: int(20, 1, 10_000),
    CVP_LOGIN_THROTTLE_TTL_S: int(60, 1, 3600),
    CVP_ADMIN_USERNAME: z
      .string()
      .regex(/^[a-zA-Z0-9._-]{3,64}$/)
      .default('admin'),
    /** Password of the admin seeded on an empty users table; generated and printed once when unset. */
    CVP_ADMIN_PASSWORD: z.string().min(8).optional(),

    // uploads
    CVP_MODEL_UPLOAD_MAX_BYTES: int(1024 ** 3),
    /** Uploads processed at once per kind (models, data sets); more are answered 429 + Retry-After. */
    CVP_UPLOAD_CONCURRENCY: int(4, 1, 64),
    CVP_DATASET_UPLOAD_MAX_BYTES: int(1024 ** 3),
    CVP_DATASET_MAX_ENTRIES: int(20_000, 1),
    CVP_DATASET_MAX_UNCOMPRESSED_BYTES: int(4 * 1024 ** 3),
    /** Largest uncompressed/compressed ratio of any entry (zip bombs reach thousands). */
    CVP_DATASET_MAX_RATIO: int(200, 1),
    /** Pixel cap per decoded image (sharp limitInputPixels): stops image bombs. */
    CVP_IMAGE_MAX_PIXELS: int(40_000_000, 1),
    /** How long registry RPC responders may take; workers bound their own requests too. */
    CVP_REGISTRY_TIMEOUT_MS: int(5000, 100, 60_000),
  })
  .superRefine((c, ctx) => {
    // A guessable secret means anyone can mint admin tokens: refuse to start, in every mode. Only
    // development may leave it unset (a fresh random one is generated below).
    const s = c.CVP_JWT_SECRET;
    if (s === undefined && c.NODE_ENV === 'development') return;
    if (s === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['CVP_JWT_SECRET'],
        message: `unset; set a random value of at least ${MIN_JWT_SECRET_LENGTH} characters (NODE_ENV=${c.NODE_ENV})`,
      });
    } else if (KNOWN_DEFAULT_SECRETS.has(s) || KNOWN_DEFAULT_SECRETS.has(s.toLowerCase())) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['CVP_JWT_SECRET'],
        message: `unset or a known default secret; set a random value of at least ${MIN_JWT_SECRET_LENGTH} characters (NODE_ENV=${c.NODE_ENV})`,
      });
    } else if (s.length < MIN_JWT_SECRET_LENGTH) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['CVP_JWT_SECRET'],
        message: `too short (${s.length} < ${MIN_JWT_SECRET_LENGTH} characters)`,
      });
    }
  })
  // No secret is committed anywhere: development without one gets a fresh random secret.
  .transform((c) => ({ ...c, CVP_JWT_SECRET: c.CVP_JWT_SECRET ?? randomBytes(32).toString('hex') }));
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
