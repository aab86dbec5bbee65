import type { EngineMeasurement } from '@cvp/measure';
import { fixtureCandidate } from '../../testing/report-fixture';
import { fixtureMeasurement, testProtocolContext } from '../../testing/protocol-context';
import type { CandidateConfig } from '../candidate-config';
import type { CandidateMeasurer } from '../measurers/candidate-measurer';
import { runStep } from '../protocol-step';
import { gpuProvidersStep } from './gpu-providers.step';

const NO_GPU = { present: false, name: null, reason: 'no NVIDIA GPU on this host (/dev/nvidia0 absent)' };
const A_GPU = { present: true, name: 'NVIDIA stand-in', reason: null };

describe('step 4: GPU execution providers', () => {
  it('is skipped with the reason: no GPU, a GPU without CUDA provider libraries, no lease client', async () => {
    const cases = [
      [
        { gpu: NO_GPU, providers: ['cpu'] },
        true,
        /^no NVIDIA GPU on this host .*CUDA and TensorRT execution providers not measured/,
      ],
      [{ gpu: A_GPU, providers: ['cpu'] }, true, /no CUDA provider libraries/],
      [{ gpu: A_GPU, providers: ['cpu', 'cuda'] }, false, /no GPU lease client/],
    ] as const;
    for (const [host, lease, reason] of cases) {
      const ctx = await testProtocolContext({
        parts: { host: { ...host, providers: [...host.providers] } },
        hooks: lease ? { withGpuLease: (fn) => fn() } : {},
      });
      expect(await runStep(ctx, gpuProvidersStep)).toMatchObject({
        status: 'skipped',
        reasons: [expect.stringMatching(reason)],
      });
    }
  });

  // No GPU here: the host's GPU and both engines' GPU runs are stood in by mocks.
  it('with a GPU (mocked: none here): CUDA FP32 and FP16 on both engines, TensorRT FP16 on the native one, TensorRT FP32 on ort-node, all under one GPU lease, labelled by what ran', async () => {
    const measured: CandidateConfig[] = [];
    const gpuMeasurer = (engine: 'ort-node' | 'native'): CandidateMeasurer => ({
      engine,
      unavailableReason: null,
      measure: async (config): Promise<EngineMeasurement> => {
        measured.push(config);
        return fixtureMeasurement();
      },
    });
    let leases = 0;
    const ctx = await testProtocolContext({
      parts: {
        host: { gpu: A_GPU, providers: ['cpu', 'cuda', 'tensorrt'] },
        measurers: { 'ort-node': gpuMeasurer('ort-node'), native: gpuMeasurer('native') },
      },
      hooks: {
        withGpuLease: async (fn) => {
          leases++;
          return fn();
        },
      },
    });
    ctx.candidates.push(
      fixtureCandidate('ort-node/cpu/fp16/all/t1/b1', 5, { step: 3, modelPath: '/variants/fp16.onnx' }),
    );
    const step = await runStep(ctx, gpuProvidersStep);
    expect(leases).toBe(1);
    expect(step).toMatchObject({
      status: 'done',
      reasons: [
        expect.stringMatching(/^ort-node\/tensorrt\/fp16: not measured: onnxruntime-node passes only a device id/),
      ],
      candidateIds: [
        'ort-node/cuda/fp32/all/t0/b1',
        'ort-node/cuda/fp16/all/t0/b1',
        'ort-node/tensorrt/fp32/all/t0/b1',
        'native/cuda/fp32/all/t0/b1',
        'native/cuda/fp16/all/t0/b1',
        'native/tensorrt/fp16/all/t0/b1',
      ],
      details: { vram: expect.stringMatching(/NVML/) },
    });
    expect(measured.map((c) => c.modelPath)).toEqual([
      ctx.input.model.path,
      '/variants/fp16.onnx',
      ctx.input.model.path,
      ctx.input.model.path,
      '/variants/fp16.onnx',
      ctx.input.model.path,
    ]);
    // TensorRT FP16 runs the FP32 file with the FP16 flag: the label says FP16, the variant says which file.
    expect(ctx.candidates.find((c) => c.id === 'native/tensorrt/fp16/all/t0/b1')).toMatchObject({
      variant: 'fp32',
      options: { provider: 'tensorrt', precision: 'fp16' },
    });
    expect(ctx.candidates.find((c) => c.id === 'ort-node/tensorrt/fp32/all/t0/b1')).toMatchObject({
      options: { provider: 'tensorrt', precision: 'fp32' },
    });
    expect(ctx.candidates.find((c) => c.id === 'ort-node/cuda/fp16/all/t0/b1')).toMatchObject({
      step: 4,
      peakVramMb: 900,
      options: { provider: 'cuda', precision: 'fp16' },
    });

    // Without TensorRT's provider libraries that part is a reason.
    const noTrt = await testProtocolContext({
      parts: { host: { gpu: A_GPU, providers: ['cpu', 'cuda'] }, measurers: { 'ort-node': gpuMeasurer('ort-node') } },
      hooks: { withGpuLease: (fn) => fn() },
    });
    const s2 = await runStep(noTrt, gpuProvidersStep);
    expect(s2.candidateIds).toEqual(['ort-node/cuda/fp32/all/t0/b1']);
    expect(s2.reasons).toEqual([
      'tensorrt: provider libraries not available',
      'native: skipped: native engines disabled (CVP_BENCH_NATIVE=false)',
      'fp16 on CUDA: skipped: no FP16 variant was made in step 3',
    ]);
  });
});
