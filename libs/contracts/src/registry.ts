import { z } from 'zod';
import { contract, message, requestReply } from './envelope';
import { artifactRefSchema } from './artifact-ref';
import { engineConfigSchema } from './engines';
import { DATASET_FORMATS, MODEL_FORMATS, MODEL_TASKS } from './enums';

/**
 * Read-only registry RPCs answered by the gateway (which owns the models, datasets and
 * benchmarks tables) so worker services learn paths and metadata without touching its database.
 * Files are artifact references: keys with CVP_ARTIFACTS=objectstore (each host resolves them
 * through the store), absolute paths in the shared data dir with the local default.
 */
export const Registry = {
  describeModel: 'cvp.registry.model.describe',
  describeDataset: 'cvp.registry.dataset.describe',
  latestBenchmark: 'cvp.registry.benchmark.latest',
} as const;

export const modelVersionSchema = z.object({
  version: z.number().int().min(1),
  onnxPath: artifactRefSchema.nullable(),
  sourcePath: artifactRefSchema.nullable(),
  sourceFormat: z.enum(MODEL_FORMATS),
  trained: z.boolean(),
  createdAt: z.string(),
  /** Output of `python -m cvp_ml inspect` (inputs, outputs, opset, params, flops, sha256, size...). */
  metadata: z.record(z.string(), z.unknown()).nullable(),
  metrics: z.record(z.string(), z.unknown()).nullable().optional(),
  /** Job that produced it (convert, train, tune). */
  jobId: z.string().nullable().optional(),
});
export type ModelVersionInfo = z.infer<typeof modelVersionSchema>;

export const DescribeModelRequest = contract(
  'registry.model.describe.req',
  message({ modelId: z.string().min(1), version: z.number().int().min(1).optional() }),
);
export const describeModelReplySchema = message({
  found: z.boolean(),
  error: z.string().optional(),
  /** The gateway could not read its registry just now (database unavailable): not an answer; retry. */
  unavailable: z.boolean().optional(),
  model: z
    .object({
      id: z.string(),
      name: z.string(),
      task: z.enum(MODEL_TASKS),
      labels: z.array(z.string()).optional(),
      preset: z.string().nullable().optional(),
      latestVersion: z.number().int().min(0),
      versions: z.array(modelVersionSchema),
    })
    .optional(),
});
export type DescribeModelReply = z.infer<typeof describeModelReplySchema>;
export const DescribeModelReply = contract<DescribeModelReply>('registry.model.describe.res', describeModelReplySchema);

export const DescribeDatasetRequest = contract(
  'registry.dataset.describe.req',
  message({ datasetId: z.string().min(1) }),
);
export const describeDatasetReplySchema = message({
  found: z.boolean(),
  error: z.string().optional(),
  /** The gateway could not read its registry just now (database unavailable): not an answer; retry. */
  unavailable: z.boolean().optional(),
  dataset: z
    .object({
      id: z.string(),
      name: z.string(),
      format: z.enum(DATASET_FORMATS),
      /** Folder with the extracted, validated data set (data.yaml for yolo). */
      path: z.string(),
      valid: z.boolean(),
      classes: z.array(z.string()),
    })
    .optional(),
});
export type DescribeDatasetReply = z.infer<typeof describeDatasetReplySchema>;
export const DescribeDatasetReply = contract<DescribeDatasetReply>(
  'registry.dataset.describe.res',
  describeDatasetReplySchema,
);

export const LatestBenchmarkRequest = contract(
  'registry.benchmark.latest.req',
  message({ modelId: z.string().min(1) }),
);
export const latestBenchmarkReplySchema = message({
  found: z.boolean(),
  /** The gateway could not read its registry just now (database unavailable): not an answer; retry. */
  unavailable: z.boolean().optional(),
  benchmark: z
    .object({
      id: z.string(),
      modelId: z.string(),
      modelVersion: z.number().int(),
      /** Folder holding report.json, technical.html, simple.html, decision record. */
      reportDir: artifactRefSchema,
      selected: engineConfigSchema.nullable(),
      createdAt: z.string(),
    })
    .optional(),
});
export type LatestBenchmarkReply = z.infer<typeof latestBenchmarkReplySchema>;
export const LatestBenchmarkReply = contract<LatestBenchmarkReply>(
  'registry.benchmark.latest.res',
  latestBenchmarkReplySchema,
);

/** The lookups as request-reply contracts: RegistryClient (libs/jobs) asks them, the gateway's responders answer. */
export const RegistryLookups = {
  describeModel: requestReply(Registry.describeModel, DescribeModelRequest, DescribeModelReply),
  describeDataset: requestReply(Registry.describeDataset, DescribeDatasetRequest, DescribeDatasetReply),
  latestBenchmark: requestReply(Registry.latestBenchmark, LatestBenchmarkRequest, LatestBenchmarkReply),
} as const;

/** The answer to any registry lookup the gateway could not make (its database did not answer): retry, not "not found". */
export const REGISTRY_UNAVAILABLE = {
  found: false,
  unavailable: true,
  error: 'registry unavailable: the database did not answer',
} as const;
