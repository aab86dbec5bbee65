import type { Artifacts } from '@cvp/artifacts';
import { isUltralyticsPreset } from '@cvp/contracts';
import type { DatasetDescription, ModelDescription } from '@cvp/jobs';
import { PermanentJobError } from '@cvp/jobs';
import type { UserFiles } from '../python-runner/python-runner.service';

const FORMAT_FOR_TASK = { detect: 'yolo', classify: 'imagefolder' } as const;

/**
 * What `cvp_ml train --model` gets: the newest Ultralytics checkpoint of the model (fine-tuning
 * continues from it), else the preset's architecture. Anything else cannot be trained here.
 */
export function trainingModelArg(model: ModelDescription): string {
  const pt = [...model.versions]
    .sort((a, b) => b.version - a.version)
    .find((v) => v.sourceFormat === 'ultralytics' && v.sourcePath && /\.pt$/i.test(v.sourcePath));
  if (pt?.sourcePath) return pt.sourcePath;
  if (model.preset && isUltralyticsPreset(model.preset)) return model.preset;
  throw new PermanentJobError(
    `model ${model.id} cannot be trained: training needs an Ultralytics model (preset yolov8n/yolov8s or an uploaded .pt), ` +
      `it has preset ${model.preset ?? 'none'} and formats ${[...new Set(model.versions.map((v) => v.sourceFormat))].join(', ') || 'none'}`,
  );
}

/**
 * trainingModelArg, with a checkpoint brought onto this host (into `dir`, named like its key, as
 * Ultralytics wants `.pt`) when it was written elsewhere. A preset's name stays as it is.
 */
export async function stageCheckpoint(artifacts: Artifacts, model: ModelDescription, dir: string): Promise<string> {
  const arg = trainingModelArg(model);
  return arg === model.preset ? arg : artifacts.stage(arg, dir);
}

/** Refuses data sets that failed validation or do not fit the model's task. */
export function assertTrainableDataset(model: ModelDescription, ds: DatasetDescription): void {
  if (!ds.valid)
    throw new PermanentJobError(
      `data set ${ds.id} failed validation and cannot be used for training (see its validation report)`,
    );
  const want = FORMAT_FOR_TASK[model.task];
  if (ds.format !== want)
    throw new PermanentJobError(
      `model ${model.id} is a ${model.task} model and needs a ${want} data set; ${ds.id} is ${ds.format}`,
    );
}

/**
 * What a training (or a tuning trial) opens and writes, for its sandbox: the checkpoint it starts
 * from (a pickle: it may run code) unless it starts from a preset's architecture, and the data set.
 */
export function trainingFiles(
  model: ModelDescription,
  modelArg: string,
  dataset: DatasetDescription,
  outputs: string[],
): UserFiles {
  const fromCheckpoint = modelArg !== model.preset;
  return { inputs: [...(fromCheckpoint ? [modelArg] : []), dataset.path], outputs, mayRunCode: fromCheckpoint };
}
