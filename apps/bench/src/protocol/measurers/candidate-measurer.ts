import type { EngineId } from '@cvp/contracts';
import type { EngineMeasurement, MeasurementPlan } from '@cvp/measure';
import type { CandidateConfig } from '../candidate-config';

/**
 * Measures configurations of one engine, each in a fresh process of its own (so peak memory is
 * that configuration's alone and a crashing engine cannot take the worker down). Every engine
 * runs the same measurement sequence (measureEngine in libs/measure).
 */
export interface CandidateMeasurer {
  readonly engine: EngineId;
  /** Why this engine cannot be measured here, or null when it can. */
  readonly unavailableReason: string | null;
  measure(config: CandidateConfig, plan: MeasurementPlan, signal?: AbortSignal): Promise<EngineMeasurement>;
  /**
   * Throughput of a model-instance layout of a (CPU, batch 1) configuration with every instance
   * kept busy for `seconds`, in a fresh process; latency of one run under that load; peak RSS.
   * Absent: the engine's layouts are not measured (one instance is kept).
   */
  measureLayout?(
    config: CandidateConfig,
    layout: InstanceLayout,
    o: { inputShape: number[]; seconds: number; signal?: AbortSignal },
  ): Promise<LayoutMeasurement>;
}

/** N sessions (instances) x T intra-op threads each. */
export interface InstanceLayout {
  instances: number;
  threads: number;
}

export interface LayoutMeasurement extends InstanceLayout {
  throughput: number;
  p50Ms: number;
  p95Ms: number;
  peakRssMb: number | null;
  runs: number;
}

export type CandidateMeasurers = Record<EngineId, CandidateMeasurer>;
