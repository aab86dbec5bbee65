import type { CandidateConfig } from '../candidate-config';
import { measureCandidate } from '../candidates';
import type { ProtocolStep } from '../protocol-step';

/**
 * Step 4: ONNX Runtime's CUDA execution provider with the FP32 model and the FP16 variant of
 * step 3, and its TensorRT provider, under a GPU lease. Skipped where there is no GPU, no CUDA
 * provider library or no lease client.
 */
export const gpuProvidersStep: ProtocolStep = {
  step: 4,
  name: () => 'TensorRT FP16 and CUDA FP32/FP16 (GPU)',
  skipReason: (ctx) =>
    !ctx.host.gpu.present
      ? `${ctx.host.gpu.reason}; CUDA and TensorRT execution providers not measured`
      : !ctx.host.providers.includes('cuda')
        ? 'a GPU is present but onnxruntime-node has no CUDA provider libraries here'
        : !ctx.withGpuLease
          ? 'no GPU lease client configured'
          : undefined,
  async run(ctx, rec) {
    const fp16 = ctx.candidates.find((c) => c.variant === 'fp16');
    const on = (provider: 'cuda' | 'tensorrt', variant: 'fp32' | 'fp16', modelPath: string): CandidateConfig => ({
      engine: 'ort-node',
      provider,
      variant,
      modelPath,
      graphOptimization: 'all',
      threads: 0,
      batch: 1,
    });
    await ctx.withGpuLease!(async () => {
      await measureCandidate(ctx, rec, 4, on('cuda', 'fp32', ctx.input.model.path));
      if (fp16) await measureCandidate(ctx, rec, 4, on('cuda', 'fp16', fp16.modelPath));
      if (ctx.host.providers.includes('tensorrt'))
        await measureCandidate(ctx, rec, 4, on('tensorrt', 'fp16', fp16?.modelPath ?? ctx.input.model.path));
      else rec.reasons.push('tensorrt: provider libraries not available');
    });
    rec.details.vram =
      "sampled with nvidia-smi (NVML) in each GPU candidate's own process after measuring; a candidate whose VRAM could not be read is held infeasible under a VRAM limit";
  },
};
