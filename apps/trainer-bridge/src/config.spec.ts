import { ConfigError, parseConfig } from '@cvp/platform';
import { trainerBridgeConfigSchema } from './config';
import { toTrainerBridgeOptions } from './trainer-bridge.options';

describe('trainer-bridge config', () => {
  it('has a default for every key and resolves paths against the working directory', () => {
    const c = parseConfig(trainerBridgeConfigSchema, {});
    const s = toTrainerBridgeOptions(c, '/repo');
    expect(s).toMatchObject({ dataDir: '/repo/var', gpuTokens: 2, latencyScript: '/repo/scripts/measure-latency.js' });
    expect(s.python).toMatchObject({
      python: '/repo/python/.venv/bin/python',
      dataDir: '/repo/var',
      killGraceMs: 3000,
    });
    expect(s.trialWrapperCommand.slice(1)).toEqual([
      '-r',
      '/repo/scripts/register-paths.js',
      '/repo/dist/apps/trainer-bridge/src/tune/trial-lease-wrapper.js',
    ]);
  });

  it('refuses a kill grace that would break the 5 s cancel bound, naming the key', () => {
    expect(() => parseConfig(trainerBridgeConfigSchema, { CVP_KILL_GRACE_MS: '4500' })).toThrow(ConfigError);
    expect(() => parseConfig(trainerBridgeConfigSchema, { CVP_GPU_TOKENS: '0' })).toThrow(/CVP_GPU_TOKENS/);
  });
});
