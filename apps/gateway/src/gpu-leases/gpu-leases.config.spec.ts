import { gpuLeaseConfig } from './gpu-leases.config';

describe('GPU lease config', () => {
  it('reads per-node pool sizes, and accepts its own parsed form again', () => {
    const c = gpuLeaseConfig({ CVP_GPU_NODE_TOKENS: ' gpu-a=4, host:0=1 ' });
    expect(c.CVP_GPU_NODE_TOKENS).toEqual({ 'gpu-a': 4, 'host:0': 1 });
    expect(gpuLeaseConfig(c).CVP_GPU_NODE_TOKENS).toEqual({ 'gpu-a': 4, 'host:0': 1 });
    expect(gpuLeaseConfig({}).CVP_GPU_NODE_TOKENS).toEqual({});
  });

  it.each(['gpu-a', 'gpu-a=0', 'gpu-a=65', '-bad=1', 'gpu-a=1,gpu-a=2'])('refuses %j, naming the entry', (v) => {
    expect(() => gpuLeaseConfig({ CVP_GPU_NODE_TOKENS: v })).toThrow(/expected node=tokens/);
  });
});
