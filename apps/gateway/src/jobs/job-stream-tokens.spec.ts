import { JobStreamTokens, redactStreamToken } from './job-stream-tokens';

describe('JobStreamTokens', () => {
  it('opens one job only, until it expires', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const tokens = new JobStreamTokens({ CVP_JOB_STREAM_TOKEN_TTL_S: 5 });
      const { token, expiresAt } = tokens.issue('job-1', 'user-1');
      expect(expiresAt.getTime()).toBe(1_005_000);
      expect(tokens.verify(token, 'job-1')).toBe('user-1');
      expect(tokens.verify(token, 'job-2')).toBeUndefined();
      expect(tokens.verify(undefined, 'job-1')).toBeUndefined();
      expect(tokens.verify('forged', 'job-1')).toBeUndefined();
      jest.setSystemTime(1_005_001);
      expect(tokens.verify(token, 'job-1')).toBeUndefined();
      tokens.issue('job-3', 'user-1'); // prunes the expired one
      expect(tokens['grants'].size).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps at most 10 000 tokens, dropping the oldest', () => {
    const tokens = new JobStreamTokens({});
    const first = tokens.issue('job-0', 'u').token;
    for (let i = 1; i <= 10_000; i++) tokens.issue(`job-${i}`, 'u');
    expect(tokens['grants'].size).toBe(10_000);
    expect(tokens.verify(first, 'job-0')).toBeUndefined();
  });

  it('redacts stream tokens in URLs for loggers', () => {
    expect(redactStreamToken('/api/v1/jobs/x/events?streamToken=abc-DEF_1&lastEventId=3')).toBe(
      '/api/v1/jobs/x/events?streamToken=[redacted]&lastEventId=3',
    );
    expect(redactStreamToken('/a?x=1&streamToken=abc#frag')).toBe('/a?x=1&streamToken=[redacted]#frag');
    expect(redactStreamToken('/a?token=1')).toBe('/a?token=1');
  });
});
