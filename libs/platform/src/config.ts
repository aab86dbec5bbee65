import { z } from 'zod';

/** Config every service shares; each service extends this with its own. */
export const baseConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  CVP_HOST: z.string().ip().default('127.0.0.1'),
  CVP_NATS_URL: z
    .string()
    .regex(/^nats:\/\/[^\s]+:\d+$/, 'must look like nats://host:port')
    .default('nats://127.0.0.1:4222'),
  CVP_DATA_DIR: z.string().min(1).default('var'),
  CVP_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type BaseConfig = z.infer<typeof baseConfigSchema>;

/** Integer port parsed from env, with a default. */
export const portKey = (def: number) => z.coerce.number().int().min(1).max(65535).default(def);

const SECRET_KEY = /SECRET|PASSWORD|TOKEN|KEY$/i;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses env against a schema; throws ConfigError naming every bad key. */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const r = schema.safeParse(env);
  if (r.success) return r.data;
  throw new ConfigError(
    r.error.issues.map((i) => {
      const key = i.path.join('.');
      const val = env[key];
      // Never echo a secret, even a rejected one: start-up errors end up in logs.
      const shown = val === undefined ? '(unset)' : SECRET_KEY.test(key) ? '(hidden)' : JSON.stringify(val);
      return `${key}=${shown}: ${i.message}`;
    }),
  );
}

/** Start-up variant: prints the problems and exits 78 (EX_CONFIG) instead of throwing. */
export function loadConfigOrExit<S extends z.ZodTypeAny>(
  service: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  try {
    return parseConfig(schema, env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${service}: ${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
}
