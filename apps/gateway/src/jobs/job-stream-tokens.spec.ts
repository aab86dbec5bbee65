import { JobStreamTokens, redactStreamToken } from './job-stream-tokens';

const SECRET = 'a'.repeat(64);

describe('JobStreamTokens', () => {
  it('opens one job only, until it expires', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const tokens = new JobStreamTokens({ CVP_JOB_STREAM_TOKEN_TTL_S: 5, CVP_JWT_SECRET: SECRET });
      const { token, expiresAt } = tokens.issue('job-1', 'user-1');
      expect(expiresAt.getTime()).toBe(1_005_000);
      expect(tokens.verify(token, 'job-1')).toBe('user-1');
      expect(tokens.verify(token, 'job-2')).toBeUndefined();
      expect(tokens.verify(undefined, 'job-1')).toBeUndefined();
      expect(tokens.verify('forged', 'job-1')).toBeUndefined();
      jest.setSystemTime(1_005_001);
      expect(tokens.verify(token, 'job-1')).toBeUndefined();
    } finally {
      jest.useRealTimers();
    }
  });

  it('any replica with the same secret verifies it; another secret or a changed token does not', () => {
    const a = new JobStreamTokens({ CVP_JWT_SECRET: SECRET });
    const b = new JobStreamTokens({ CVP_JWT_SECRET: SECRET });
    const other = new JobStreamTokens({ CVP_JWT_SECRET: 'b'.repeat(64) });
    const { token } = a.issue('job-1', 'user-1');
    expect(b.verify(token, 'job-1')).toBe('user-1');
    expect(other.verify(token, 'job-1')).toBeUndefined();
    const [body, sig] = token.split('.');
    // The same signature on another job's grant, a grant with a far expiry, a truncated signature.
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), j: 'job-2' }),
    ).toString('base64url');
    expect(b.verify(`${forged}.${sig}`, 'job-2')).toBeUndefined();
    expect(b.verify(`${body}.${sig.slice(1)}`, 'job-1')).toBeUndefined();
    expect(b.verify(`${body}.${sig}.x`, 'job-1')).toBeUndefined();
    expect(b.verify('x'.repeat(5000), 'job-1')).toBeUndefined();
  });

  it('redacts stream tokens in URLs for loggers', () => {
    expect(redactStreamToken('/api/v1/jobs/x/events?streamToken=abc-DEF_1&lastEventId=3')).toBe(
      '/api/v1/jobs/x/events?streamToken=[redacted]&lastEventId=3',
    );
    expect(redactStreamToken('/a?x=1&streamToken=abc#frag')).toBe('/a?x=1&streamToken=[redacted]#frag');
    expect(redactStreamToken('/a?token=1')).toBe('/a?token=1');
    expect(redactStreamToken('/a?streamToken=eyJq.c2ln')).toBe('/a?streamToken=[redacted]');
  });
});
