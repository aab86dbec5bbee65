import type {
  BenchCandidate,
  EngineId,
  EngineOptions,
  GraphOptLevel,
  Precision,
  Provider,
  VariantKind,
} from '@cvp/contracts';

/**
 * One engine configuration the protocol measures: everything that decides how the model runs.
 * A search dimension is a field here, in candidateId and in engineOptionsOf, and each measurer
 * applies it. Model instances are the exception to candidateId: they change throughput under
 * load, not one request's latency, so they are chosen for the selected configuration after
 * selection (instance-layouts.ts) rather than compared as candidates.
 */
export interface CandidateConfig {
  engine: EngineId;
  provider: Provider;
  variant: VariantKind;
  /** The model file of that variant. */
  modelPath: string;
  graphOptimization: GraphOptLevel;
  /** Intra-op threads (of each instance); 0 = ONNX Runtime's default. */
  threads: number;
  batch: number;
  /**
   * What the engine runs at when it is not the variant's own precision: TensorRT FP16 builds an
   * FP16 engine from the FP32 file (the native core sets trt_fp16_enable for it).
   */
  precision?: Precision;
  /** Model instances (sessions running at once); absent = 1. Chosen for serving after selection. */
  instances?: number;
}

const PRECISION_OF: Record<VariantKind, Precision> = {
  fp32: 'fp32',
  fp16: 'fp16',
  'int8-static': 'int8',
  'int8-dynamic': 'int8',
};

/**
 * The stable name of a configuration, e.g. "ort-node/cpu/int8-static/all/t1/b1"; reports and
 * selection key on it. The third part is what ran: the variant, or the precision the engine ran
 * the variant's file at ("native/tensorrt/fp16/..." for TensorRT FP16 from the FP32 file).
 */
export function candidateId(c: CandidateConfig): string {
  const ran = c.precision && c.precision !== precisionOf(c.variant) ? c.precision : c.variant;
  return `${c.engine}/${c.provider}/${ran}/${c.graphOptimization}/t${c.threads}/b${c.batch}`;
}

export function precisionOf(variant: VariantKind): Precision {
  return PRECISION_OF[variant];
}

/** The options a deployment runs this configuration with. */
export function engineOptionsOf(c: CandidateConfig): EngineOptions {
  return {
    provider: c.provider,
    precision: c.precision ?? precisionOf(c.variant),
    graphOptimization: c.graphOptimization,
    threads: c.threads,
    maxBatch: c.batch,
    ...(c.instances && c.instances > 1 ? { instances: c.instances } : {}),
  };
}

/** The configuration a measured candidate ran, to measure it again (another batch size, a load run). */
export function configOf(c: BenchCandidate): CandidateConfig {
  return {
    engine: c.engine,
    provider: c.options.provider,
    variant: c.variant,
    modelPath: c.modelPath,
    graphOptimization: c.options.graphOptimization,
    threads: c.options.threads,
    batch: c.batch,
    ...(c.options.precision !== precisionOf(c.variant) ? { precision: c.options.precision } : {}),
    ...(c.options.instances ? { instances: c.options.instances } : {}),
  };
}
