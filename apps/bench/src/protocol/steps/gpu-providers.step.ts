import type { EngineId } from '@cvp/contracts';
import type { CandidateConfig } from '../candidate-config';
import { measureCandidate, unavailable } from '../candidates';
import type { ProtocolStep } from '../protocol-step';

/**
 * Step 4, under a GPU lease: ONNX Runtime's CUDA execution provider with the FP32 model and the
 * FP16 variant of step 3 on each engine, TensorRT FP16 on the native engine (the core sets
 * TensorRT's FP16 flag and keeps an engine cache; onnxruntime-node cannot set the flag), and
 * TensorRT FP32 on onnxruntime-node. Every candidate is labelled by what ran. Skipped where there
 * is no GPU, no CUDA provider library or no lease client.
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
    const fp16 = ctx.candidates.find((c) => c.variant === 'fp16' && c.options.provider === 'cpu');
    const on = (
      engine: EngineId,
      provider: 'cuda' | 'tensorrt',
      variant: 'fp32' | 'fp16',
      modelPath: string,
      precision?: 'fp16',
    ): CandidateConfig => ({
      engine,
      provider,
      variant,
      modelPath,
      graphOptimization: 'all',
      threads: 0,
      batch: 1,
      ...(precision ? { precision } : {}),
    });
    const trt = ctx.host.providers.includes('tensorrt');
    const nativeReason = unavailable(ctx, 'native');
    await ctx.withGpuLease!(async () => {
      await measureCandidate(ctx, rec, 4, on('ort-node', 'cuda', 'fp32', ctx.input.model.path));
      if (fp16) await measureCandidate(ctx, rec, 4, on('ort-node', 'cuda', 'fp16', fp16.modelPath));
      // onnxruntime-node hands TensorRT only a device id: FP32, with CUDA for what TensorRT does not take.
      if (trt) await measureCandidate(ctx, rec, 4, on('ort-node', 'tensorrt', 'fp32', ctx.input.model.path));
      if (!nativeReason) {
        await measureCandidate(ctx, rec, 4, on('native', 'cuda', 'fp32', ctx.input.model.path));
        if (fp16) await measureCandidate(ctx, rec, 4, on('native', 'cuda', 'fp16', fp16.modelPath));
        if (trt) await measureCandidate(ctx, rec, 4, on('native', 'tensorrt', 'fp32', ctx.input.model.path, 'fp16'));
      }
    });
    if (!trt) rec.reasons.push('tensorrt: provider libraries not available');
    else
      rec.reasons.push(
        'ort-node/tensorrt/fp16: not measured: onnxruntime-node passes only a device id to TensorRT, so its FP16 flag stays off (TensorRT FP16 is measured on the native engine)',
      );
    if (nativeReason) rec.reasons.push(`native: skipped: ${nativeReason}`);
    if (!fp16) rec.reasons.push('fp16 on CUDA: skipped: no FP16 variant was made in step 3');
    rec.details.vram =
      "peak GPU memory sampled through NVML in each GPU candidate's own process while it was measured (null with the reason when NVML cannot attribute it; such a candidate is infeasible under a VRAM limit)";
  },
};
