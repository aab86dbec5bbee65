import type { ModelVersionInfo } from '@cvp/contracts';
import type { ModelDescription } from '@cvp/jobs';
import type { ModelEntity, ModelVersionEntity } from './model.entity';
import type { ModelView, TensorInfo } from './models.dto';

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/** Absolute paths are the workers' business; REST answers leave them out. */
const withoutPaths = (m: Record<string, unknown> | null) => {
  if (!m) return null;
  const { path: _p, ...rest } = m;
  return rest;
};

/** A model and its versions as REST answers them: the latest converted version's facts on top, no paths. */
export function toModelView(m: ModelEntity, vers: ModelVersionEntity[]): ModelView {
  const sorted = [...vers].sort((a, b) => a.version - b.version);
  const latest = sorted.find((v) => v.version === m.latestVersion) ?? sorted.at(-1);
  const meta = (latest?.onnxPath ? latest.metadata : null) ?? {};
  return {
    id: m.id,
    name: m.name,
    task: m.task,
    sourceFormat: m.sourceFormat,
    preset: m.preset,
    labels: m.labels,
    ownerId: m.ownerId,
    latestVersion: m.latestVersion,
    trained: !!latest?.trained,
    inputs: (meta.inputs as TensorInfo[] | undefined) ?? [],
    outputs: (meta.outputs as TensorInfo[] | undefined) ?? [],
    opset: num(meta.opset),
    parameters: num(meta.parameters),
    flops: num(meta.flops),
    sizeBytes: num(meta.size_bytes),
    sha256: typeof meta.sha256 === 'string' ? meta.sha256 : null,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    versions: sorted.map((v) => ({
      version: v.version,
      sourceFormat: v.sourceFormat,
      sourceSha256: v.sourceSha256,
      sourceSize: v.sourceSize,
      converted: !!v.onnxPath,
      trained: !!v.trained,
      metadata: withoutPaths(v.metadata),
      metrics: v.metrics,
      jobId: v.jobId,
      createdAt: v.createdAt,
    })),
  };
}

/** A model as workers read it (cvp.registry.model.describe, deployments): absolute paths included. */
export function toModelDescription(m: ModelEntity, vers: ModelVersionEntity[]): ModelDescription {
  const versions: ModelVersionInfo[] = vers.map((v) => ({
    version: v.version,
    onnxPath: v.onnxPath,
    sourcePath: v.sourcePath,
    sourceFormat: v.sourceFormat,
    trained: !!v.trained,
    createdAt: v.createdAt,
    metadata: v.metadata,
    metrics: v.metrics,
    jobId: v.jobId,
  }));
  return {
    id: m.id,
    name: m.name,
    task: m.task,
    ...(m.labels ? { labels: m.labels } : {}),
    preset: m.preset,
    latestVersion: m.latestVersion,
    versions,
  };
}
