import type { Problem } from './types';

/**
 * The gateway answered with an error: its RFC 9457 problem (title, detail, type, per-field errors),
 * the status, and Retry-After when it said when to come back.
 */
export class CvpApiError extends Error {
  override readonly name = 'CvpApiError';
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly retryAfterS?: number,
  ) {
    super(`${problem.title} (${status})${problem.detail ? `: ${problem.detail}` : ''}`);
  }

  /** Builds the error from any answer: problem+json as sent, anything else wrapped in a problem. */
  static from(response: Response, body: unknown): CvpApiError {
    const header = response.headers.get('retry-after');
    const retry = header === null || header.trim() === '' ? NaN : Number(header);
    const problem: Problem = isProblem(body)
      ? body
      : {
          type: 'about:blank',
          title: response.statusText || `HTTP ${response.status}`,
          status: response.status,
          ...(typeof body === 'string' && body ? { detail: body.slice(0, 500) } : {}),
        };
    return new CvpApiError(response.status, problem, Number.isFinite(retry) && retry >= 0 ? retry : undefined);
  }
}

/** The gateway could not be reached, or did not answer in time. */
export class CvpNetworkError extends Error {
  override readonly name = 'CvpNetworkError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${url}: ${reason}`);
  }

  static from(url: string, e: unknown): CvpNetworkError {
    const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (err?.name === 'TimeoutError') return new CvpNetworkError(url, 'no answer in time');
    return new CvpNetworkError(url, err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e));
  }
}

function isProblem(v: unknown): v is Problem {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Problem).title === 'string' &&
    typeof (v as Problem).status === 'number'
  );
}
