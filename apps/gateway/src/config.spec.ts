import { ConfigError, parseConfig } from '@cvp/platform';
import { gatewayConfigSchema } from './config';

describe('gateway config: the JWT secret policy', () => {
  const strong = 'k'.repeat(20) + 'Zx9!q2Lr7Vb3Nm8Pw4Tt';
  const load = (env: Record<string, string>) => parseConfig(gatewayConfigSchema, env);
  const refusal = (env: Record<string, string>) => {
    try {
      load(env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).problems.join('\n');
    }
    throw new Error('config was accepted');
  };

  it('development mode without a secret gets a fresh random one, never a committed default', () => {
    const a = load({ NODE_ENV: 'development' }).CVP_JWT_SECRET;
    const b = load({}).CVP_JWT_SECRET;
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
  });

  it.each(['production', 'test'])('%s mode refuses a missing secret', (NODE_ENV) => {
    expect(refusal({ NODE_ENV })).toMatch(/CVP_JWT_SECRET.*unset/);
  });

  it('refuses known defaults, in any case', () => {
    expect(refusal({ NODE_ENV: 'production', CVP_JWT_SECRET: 'changeme' })).toMatch(/CVP_JWT_SECRET/);
    expect(refusal({ NODE_ENV: 'production', CVP_JWT_SECRET: 'SECRET' })).toMatch(/CVP_JWT_SECRET/);
    expect(refusal({ NODE_ENV: 'production', CVP_JWT_SECRET: 'Cvp-Secret' })).toMatch(/known default/);
  });

  it.each(['production', 'test', 'development'])('%s mode refuses a short or known secret', (NODE_ENV) => {
    expect(refusal({ NODE_ENV, CVP_JWT_SECRET: 'only-twenty-chars-xx' })).toMatch(/too short/);
    expect(refusal({ NODE_ENV, CVP_JWT_SECRET: 'secret' })).toMatch(/known default/);
  });

  it('accepts a long random secret, and reads token TTLs and upload caps with defaults', () => {
    const c = load({ NODE_ENV: 'production', CVP_JWT_SECRET: strong, CVP_JWT_ACCESS_TTL_S: '300' });
    expect(c.CVP_JWT_ACCESS_TTL_S).toBe(300);
    expect(c.CVP_JWT_REFRESH_TTL_S).toBe(7 * 86_400);
    expect(c.CVP_MODEL_UPLOAD_MAX_BYTES).toBe(1024 ** 3);
  });

  it('refuses out-of-range values naming the key', () => {
    expect(refusal({ NODE_ENV: 'development', CVP_BCRYPT_ROUNDS: '2' })).toMatch(/CVP_BCRYPT_ROUNDS/);
  });
});

describe('gateway config: where the SQLite file lives', () => {
  const strong = 'k'.repeat(20) + 'Zx9!q2Lr7Vb3Nm8Pw4Tt';
  it('takes an absolute CVP_DB_FILE and refuses a relative one', () => {
    const env = { NODE_ENV: 'production', CVP_JWT_SECRET: strong };
    expect(
      parseConfig(gatewayConfigSchema, { ...env, CVP_DB_FILE: '/var/lib/cvp-gateway/gateway.sqlite' }).CVP_DB_FILE,
    ).toBe('/var/lib/cvp-gateway/gateway.sqlite');
    expect(() => parseConfig(gatewayConfigSchema, { ...env, CVP_DB_FILE: 'gateway.sqlite' })).toThrow(/CVP_DB_FILE/);
  });
});
