import { OrtWorkerSession } from './ort-worker-session';
import { discoverProviders } from '@cvp/measure';
import { explainProviderFailure, ortExecutionProviders, OrtProviderOptionsError } from './ort-providers';
import path from 'node:path';

describe('ort-node execution providers', () => {
  it('CPU runs on the CPU provider alone; CUDA (fp32 or the fp16 variant) on device 0', () => {
    expect(ortExecutionProviders({ provider: 'cpu', precision: 'fp32' })).toEqual(['cpu']);
    expect(ortExecutionProviders({ provider: 'cuda', precision: 'fp16' })).toEqual([{ name: 'cuda', deviceId: 0 }]);
    expect(ortExecutionProviders({ provider: 'cuda', precision: 'fp32' }, 1)).toEqual([{ name: 'cuda', deviceId: 1 }]);
  });

  it('TensorRT fp32 falls back to CUDA; TensorRT fp16 is refused because onnxruntime-node cannot set the flag', () => {
    expect(ortExecutionProviders({ provider: 'tensorrt', precision: 'fp32' })).toEqual([
      { name: 'tensorrt', deviceId: 0 },
      { name: 'cuda', deviceId: 0 },
    ]);
    expect(() => ortExecutionProviders({ provider: 'tensorrt', precision: 'fp16' })).toThrow(OrtProviderOptionsError);
    expect(() => ortExecutionProviders({ provider: 'tensorrt', precision: 'fp16' })).toThrow(/engine "native"/);
  });

  it('onnxruntime-node accepts the provider objects: on this host the CUDA provider fails to load, never silently to CPU', async () => {
    const model = path.join(__dirname, '../../test/fixtures/mlp.onnx');
    const cpu = await OrtWorkerSession.create(model, {
      executionProviders: ortExecutionProviders({ provider: 'cpu', precision: 'fp32' }),
      graphOptimizationLevel: 'all',
    });
    await cpu.close();
    const gpu = OrtWorkerSession.create(model, {
      executionProviders: ortExecutionProviders({ provider: 'cuda', precision: 'fp32' }),
      graphOptimizationLevel: 'all',
    });
    const cuda = discoverProviders().providers.find((p) => p.name === 'cuda')!;
    if (cuda.loads) await (await gpu).close();
    else {
      const err = await gpu.catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      // what the deployment reports: onnxruntime-node's words, then the loader's exact reason
      expect(explainProviderFailure('cuda', err).message).toBe(`${(err as Error).message}: ${cuda.error}`);
      expect(explainProviderFailure('cpu', err)).toBe(err);
    }
  });
});
