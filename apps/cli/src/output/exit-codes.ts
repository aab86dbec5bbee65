/** The exit codes of `cvp` (docs/cli.md lists them); stable, scripts may switch on them. */
export const EXIT = {
  ok: 0,
  /** Unexpected: a bug here, or the gateway answered 5xx. */
  failure: 1,
  /** Unknown command or option, missing or malformed argument. */
  usage: 2,
  /** Not logged in, session expired, wrong password, invalid token (401). */
  auth: 3,
  /** The role may not do this (403). */
  forbidden: 4,
  notFound: 5,
  conflict: 6,
  /** The gateway refused the input: 400, 413, 415, 422 (e.g. a data set that failed validation). */
  rejected: 7,
  /** Busy or unavailable, retry later: 429, 503, 504. */
  busy: 8,
  /** The gateway cannot be reached or did not answer in time. */
  unreachable: 9,
  /** The job (or deployment) failed. */
  jobFailed: 10,
  jobCancelled: 11,
  /** bench ran, and no engine meets the constraints. */
  constraintsNotMet: 12,
  /** Ctrl-C: stopped watching; the job keeps running. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitForStatus(status: number): ExitCode {
  if (status === 401) return EXIT.auth;
  if (status === 403) return EXIT.forbidden;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if ([400, 413, 415, 422].includes(status)) return EXIT.rejected;
  if ([429, 502, 503, 504].includes(status)) return EXIT.busy;
  return EXIT.failure;
}
