import type { CpuProfileSummary, EngineConfig, ModelTask } from '@cvp/contracts';

/** Injection token of the service's ServingPath (null when no data plane is configured). */
export const SERVING_PATH = Symbol('SERVING_PATH');

/** A candidate loaded on the data plane for a benchmark's load steps, under a name of its own. */
export interface ScratchDeployment {
  readonly deploymentId: string;
  /** Served as /v2/models/<modelName>. */
  readonly modelName: string;
  /** The data plane's base URL, e.g. http://127.0.0.1:8000. */
  readonly baseUrl: string;
  /** Sent with every request to it (the data plane's credentials, when it asks for them). */
  readonly headers: Record<string, string>;
  /** How long loading and warm-up took, until the data plane reported it ready. */
  readonly loadMs: number;
}

export interface ScratchSpec {
  deploymentId: string;
  modelName: string;
  task: ModelTask | null;
  config: EngineConfig;
}

/**
 * The serving path as bench's steps 6, 8 and 9 use it: a candidate deployed on the real data
 * plane (its admission pool, queue, deadline and engines) and removed afterwards, plus a CPU
 * profile of the serving process. Callers remove what they deploy in a `finally`.
 */
export interface ServingPath {
  /** Where the data plane is, for the report. */
  readonly baseUrl: string;
  /** Deploys and waits until the data plane serves it (bounded); throws with the data plane's reason when it cannot. */
  deploy(spec: ScratchSpec, signal?: AbortSignal): Promise<ScratchDeployment>;
  /** Undeploys and waits for the data plane to confirm (bounded); resolves with why when it could not confirm. */
  remove(deploymentId: string, modelName: string): Promise<{ removed: boolean; reason: string | null }>;
  /** A CPU profile of a serving process (the replica that takes the request) for durationMs. */
  cpuProfile(durationMs: number, top: number): Promise<{ pid: number | null; profile: CpuProfileSummary }>;
}
