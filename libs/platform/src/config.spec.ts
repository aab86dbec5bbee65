import { z } from 'zod';
import { baseConfigSchema, ConfigError, parseConfig, portKey } from './config';

const schema = baseConfigSchema.extend({ CVP_X_PORT: portKey(1234) });

describe('config validation', () => {
  it('needs no configuration for local defaults', () => {
    const c = parseConfig(schema, {});
    expect(c.CVP_X_PORT).toBe(1234);
    expect(c.CVP_NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(c.NODE_ENV).toBe('development');
  });

  it('names every bad key with its value', () => {
    try {
      parseConfig(schema, { CVP_X_PORT: '70000', CVP_NATS_URL: 'http://x' });
      throw new Error('should have thrown');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toContain('CVP_X_PORT="70000"');
      expect(msg).toContain('CVP_NATS_URL="http://x"');
    }
  });

  it('never echoes a secret value', () => {
    const withSecret = schema.extend({ CVP_JWT_SECRET: baseConfigSchema.shape.CVP_DATA_DIR.pipe(z.string().min(32)) });
    expect(() => parseConfig(withSecret, { CVP_JWT_SECRET: 'short-secret' })).toThrow(/CVP_JWT_SECRET=\(hidden\)/);
    try {
      parseConfig(withSecret, { CVP_JWT_SECRET: 'short-secret' });
    } catch (e) {
      expect((e as Error).message).not.toContain('short-secret');
    }
  });
});
