import { CommanderError } from 'commander';
import { CvpApiError, CvpNetworkError, CvpSessionExpiredError } from '@cvp/sdk';
import { EXIT, type ExitCode, exitForStatus } from './exit-codes';
import type { Printer } from './printer';

/** A wrong command line (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Ends a command with this code and message (a failed job, unmet constraints...). */
export class CliExit extends Error {
  override readonly name = 'CliExit';
  constructor(
    readonly code: ExitCode,
    message: string,
    readonly hint?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** What went wrong, in the shape of the API's problem+json: title, detail, and what to do. */
export interface ErrorReport {
  exitCode: ExitCode;
  title: string;
  detail?: string;
  hint?: string;
  status?: number;
  type?: string;
  errors?: { path: string; message: string }[];
  [extra: string]: unknown;
}

/** `command` is the command path (e.g. "models upload"): some hints depend on it. */
export function describeError(e: unknown, command: string): ErrorReport {
  if (e instanceof CvpApiError) {
    const p = e.problem;
    const { type, title, status, detail, errors, instance: _i, ...rest } = p;
    return {
      ...rest,
      exitCode: exitForStatus(e.status),
      title: title ?? `HTTP ${e.status}`,
      status: status ?? e.status,
      type,
      ...(detail ? { detail } : {}),
      ...(errors?.length ? { errors } : {}),
      ...(e.retryAfterS !== undefined ? { retryAfterS: e.retryAfterS } : {}),
      hint: apiHint(e, command),
    };
  }
  if (e instanceof CvpSessionExpiredError)
    return {
      exitCode: EXIT.auth,
      title: 'Not logged in',
      detail: e.message,
      hint: 'run `cvp login`, or set CVP_TOKEN to an access token or API key',
    };
  if (e instanceof CvpNetworkError)
    return {
      exitCode: EXIT.unreachable,
      title: 'Gateway unreachable',
      detail: e.message,
      hint: 'is the platform running (`npm start`)? Otherwise point cvp at it with --url or CVP_URL',
    };
  if (e instanceof CliExit) return { exitCode: e.code, title: e.message, hint: e.hint, ...e.extra };
  if (e instanceof UsageError)
    return { exitCode: EXIT.usage, title: 'Invalid usage', detail: e.message, hint: `see \`cvp ${command} --help\`` };
  if (e instanceof CommanderError)
    return { exitCode: EXIT.usage, title: 'Invalid usage', detail: e.message.replace(/^error: /, '') };
  const err = e as Error;
  return { exitCode: EXIT.failure, title: 'Unexpected error', detail: err?.message ?? String(e) };
}

function apiHint(e: CvpApiError, command: string): string | undefined {
  const s = e.status;
  if (s === 401)
    return command === 'login'
      ? 'check the username and password'
      : 'log in again with `cvp login` (or check CVP_TOKEN)';
  if (s === 403)
    return 'your role may not do this: ask an admin (`cvp users update <id> --role engineer`) or log in as another user';
  if (s === 404) {
    const noun = command.split(' ')[0];
    return `check the id (\`cvp ${['models', 'datasets', 'jobs', 'deployments', 'benchmarks', 'packages'].includes(noun) ? noun : 'jobs'} list\`)`;
  }
  if (s === 409 && /benchmark/.test(e.problem.detail ?? ''))
    return 'run `cvp bench --model <id> --watch` first, or name an engine with --engine';
  if (s === 413)
    return 'the gateway refuses bodies over its limit (CVP_MODEL_UPLOAD_MAX_BYTES, CVP_DATASET_UPLOAD_MAX_BYTES)';
  if (s === 415) return 'check --format against the file (ONNX, a .pt file, a zip)';
  if (s === 422 && e.problem.report) return 'fix the problems listed above and upload again';
  if (s === 429 || s === 503)
    return e.retryAfterS !== undefined ? `busy: retry in ${e.retryAfterS} s` : 'busy: retry in a few seconds';
  if (s >= 500) return 'a server error: the correlation id finds it in the gateway log (var/logs/gateway.log)';
  return undefined;
}

/** Human: a red title line, the detail, field errors, then the hint. --json: the report on stderr. */
export function printError(p: Printer, r: ErrorReport): void {
  if (p.json) {
    p.err(JSON.stringify({ error: r }));
    return;
  }
  const head = `${p.c.red(p.c.bold('error:'))} ${r.title}${r.status ? ` (${r.status})` : ''}`;
  p.err(r.detail ? `${head}: ${r.detail}` : head);
  for (const f of r.errors ?? []) p.err(`  - ${f.path || '(body)'}: ${f.message}`);
  if (typeof r.correlationId === 'string') p.err(p.c.dim(`  correlation id: ${r.correlationId}`));
  if (r.hint) p.err(`  ${p.c.cyan('→')} ${r.hint}`);
}
