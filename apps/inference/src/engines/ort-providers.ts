import type { EngineOptions } from '@cvp/contracts';
import { discoverProviders } from '@cvp/measure';

export type OrtExecutionProvider = 'cpu' | { name: 'cuda' | 'tensorrt'; deviceId: number };

/** A deployment's options that this engine cannot run as labelled: refused at load, never relabelled. */
export class OrtProviderOptionsError extends Error {}

/**
 * onnxruntime-node's execution providers for a deployment's options. Its binding hands the CUDA and
 * TensorRT providers a device id and nothing else (OrtTensorRTProviderOptionsV2 at its defaults,
 * which also make the provider ignore the ORT_TENSORRT_* variables), so TensorRT runs without the
 * FP16 builder flag and without an engine cache here: TensorRT FP16 is the native engine's.
 * CUDA FP16 is the FP16 model variant (modelPath) on the CUDA provider.
 */
export function ortExecutionProviders(
  o: Pick<EngineOptions, 'provider' | 'precision'>,
  deviceId = 0,
): OrtExecutionProvider[] {
  if (o.provider === 'cpu') return ['cpu'];
  if (o.provider === 'cuda') return [{ name: 'cuda', deviceId }];
  if (o.precision === 'fp16')
    throw new OrtProviderOptionsError(
      'ort-node cannot run TensorRT FP16: onnxruntime-node passes only a device id to the TensorRT provider, ' +
        'so the FP16 builder flag stays off; deploy engine "native" for TensorRT FP16, or ask for fp32',
    );
  // Nodes TensorRT cannot take fall back to CUDA, not to the CPU.
  return [
    { name: 'tensorrt', deviceId },
    { name: 'cuda', deviceId },
  ];
}

/**
 * onnxruntime-node says only "Failed to load shared library" when a GPU provider does not load (the
 * loader's words go to stderr): the deployment's error gets discovery's exact reason instead.
 */
export function explainProviderFailure(provider: EngineOptions['provider'], e: unknown): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  if (provider === 'cpu' || !/Failed to load shared library/.test(err.message)) return err;
  const why = discoverProviders().providers.find((p) => p.name === provider)?.error;
  return why ? new Error(`${err.message}: ${why}`) : err;
}
