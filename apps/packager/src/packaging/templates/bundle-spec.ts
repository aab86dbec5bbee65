import type { EngineId, EngineOptions, ModelTask } from '@cvp/contracts';

/** Everything the generated files say about one bundle; all of it comes from the job's inputs. */
export interface BundleSpec {
  /** Name served under /v2/models/{modelName}. */
  modelName: string;
  modelId: string;
  modelVersion: number;
  task: ModelTask;
  engine: EngineId;
  options: EngineOptions;
  variant: 'cpu' | 'cuda';
  /** Bundle-relative path of the ONNX file the engine loads. */
  modelFile: string;
  /** Platform version (root package.json) whose data plane the bundle carries. */
  platformVersion: string;
  benchmarkId: string | null;
  /** One line on why this engine (from the decision record), or why no benchmark was used. */
  decisionSummary: string;
  /** Image tag for the compose file and docs. */
  imageTag: string;
}

export const ENTRYPOINT = 'entrypoint.sh';
export const RUN_SCRIPT = 'run.sh';
export const MODEL_CONFIG = 'model/model-config.json';
export const INFERENCE_PORT = 8000;
export const NATIVE_PORT = 8001;
/** Where the images keep the bundle; run.sh uses the extracted folder instead. */
export const IMAGE_ROOT = '/opt/cvp';
export const NODE_IMAGE = 'node:20-bookworm-slim';
export const NATIVE_BUILD_IMAGE = 'debian:bookworm';
/** Non-root user of both images. */
export const RUNTIME_UID = 10001;

/** Readiness probe used by both Dockerfiles and the compose file (node 20 has fetch; no curl needed). */
export const HEALTH_PROBE_JS =
  "fetch('http://127.0.0.1:'+(process.env.CVP_INFERENCE_PORT||8000)+'/v2/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";
