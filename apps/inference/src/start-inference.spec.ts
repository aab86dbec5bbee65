import { inferenceConfigSchema } from './config';
import { applyHeapGrowth } from './start-inference';

describe('applyHeapGrowth', () => {
  it('sets V8 heap growing factor from the config, 400 % unless told otherwise', () => {
    const set = jest.fn();
    const config = inferenceConfigSchema.parse({ NODE_ENV: 'test' });
    applyHeapGrowth(config.CVP_INFER_HEAP_GROWTH_PERCENT, set);
    expect(set).toHaveBeenCalledWith('--heap-growing-percent=400');
  });

  it("leaves V8's own heuristics alone at 0", () => {
    const set = jest.fn();
    const config = inferenceConfigSchema.parse({ NODE_ENV: 'test', CVP_INFER_HEAP_GROWTH_PERCENT: '0' });
    applyHeapGrowth(config.CVP_INFER_HEAP_GROWTH_PERCENT, set);
    expect(set).not.toHaveBeenCalled();
  });

  it('refuses a growth beyond 1000 % at start-up', () => {
    expect(() => inferenceConfigSchema.parse({ NODE_ENV: 'test', CVP_INFER_HEAP_GROWTH_PERCENT: '5000' })).toThrow();
  });
});
