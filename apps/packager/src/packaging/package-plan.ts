import { engineOptionsSchema, type EngineConfig, type JobInputs, type ModelVersionInfo } from '@cvp/contracts';
import { PermanentJobError } from '@cvp/jobs';
import type { BenchmarkDescription as BenchmarkFacts, ModelDescription as ModelFacts } from '@cvp/jobs';

/** What one package job bundles, decided from its input and the registry's facts. */
export interface PackagePlan {
  model: ModelFacts;
  version: ModelVersionInfo;
  /** modelPath is absolute (in the data dir) here; the bundle rewrites it relative. */
  engineConfig: EngineConfig;
  variant: 'cpu' | 'cuda';
  /** The benchmark whose report travels with the bundle (the one that chose the engine for `selected`). */
  benchmark: BenchmarkFacts | null;
  /** True when the engine came from the benchmark's selection. */
  selected: boolean;
}

/**
 * Resolves the engine: `selected` takes bench's choice (and needs one); `native`/`ort-node` use
 * the latest ONNX version with default options for the variant, and still carry the latest
 * benchmark report of that version when there is one.
 */
export function planPackage(
  input: JobInputs['package'],
  model: ModelFacts,
  benchmark: BenchmarkFacts | null,
): PackagePlan {
  const variant = input.variant;
  if (input.engine === 'selected') {
    if (!benchmark || !benchmark.selected) {
      throw new PermanentJobError(
        `engine "selected" needs a benchmark that selected an engine for model ${model.id}, and there is none${benchmark ? ` (benchmark ${benchmark.id} selected no feasible engine)` : ''}: run a bench job first, or package with engine "native" or "ort-node"`,
      );
    }
    const version = model.versions.find((v) => v.version === benchmark.modelVersion);
    if (!version)
      throw new PermanentJobError(
        `benchmark ${benchmark.id} measured model ${model.id} v${benchmark.modelVersion}, which no longer exists`,
      );
    const cfg = benchmark.selected;
    if (variant === 'cpu' && cfg.options.provider !== 'cpu') {
      throw new PermanentJobError(
        `the selected engine runs on provider ${cfg.options.provider}, which a CPU image cannot serve: package with variant "cuda"`,
      );
    }
    return { model, version, engineConfig: cfg, variant, benchmark, selected: true };
  }
  const version = model.versions.find((v) => v.version === model.latestVersion);
  if (!version || !version.onnxPath) {
    throw new PermanentJobError(
      `model ${model.id} has no ONNX file yet (latest version ${model.latestVersion}): wait for its convert job`,
    );
  }
  const engineConfig: EngineConfig = {
    engine: input.engine,
    options: engineOptionsSchema.parse({ provider: variant === 'cuda' ? 'cuda' : 'cpu' }),
    modelPath: version.onnxPath,
  };
  const sameVersionBench = benchmark && benchmark.modelVersion === version.version ? benchmark : null;
  return { model, version, engineConfig, variant, benchmark: sameVersionBench, selected: false };
}
