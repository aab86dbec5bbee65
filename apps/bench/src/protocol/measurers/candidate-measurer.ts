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
}

export type CandidateMeasurers = Record<EngineId, CandidateMeasurer>;
