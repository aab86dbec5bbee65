import { OutputWatcher, spawnService, waitExit } from './support/processes';

describe('start-up configuration', () => {
  it.each([
    ['bench', 'CVP_BENCH_PORT', 'not-a-port'],
    ['packager', 'CVP_NATS_URL', 'http://wrong'],
    ['inference', 'CVP_LOG_LEVEL', 'loud'],
  ])('%s refuses %s=%s with a message naming it', async (service, key, value) => {
    const child = spawnService(service, { [key]: value });
    const err = new OutputWatcher(child.stderr!);
    const code = await waitExit(child, 20000);
    expect(code).toBe(78);
    expect(err.text).toContain(`${key}=${JSON.stringify(value)}`);
  });
});
