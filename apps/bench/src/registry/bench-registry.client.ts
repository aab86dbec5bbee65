import { Inject, Injectable } from '@nestjs/common';
import { PermanentJobError, RegistryClient } from '@cvp/jobs';
import { MessageBus } from '@cvp/platform';
import { BENCH_OPTIONS, type BenchOptions } from '../bench-options';

export interface BenchModelFacts {
  id: string;
  name: string;
  task: 'detect' | 'classify';
  version: number;
  onnxPath: string;
  imgsz: number | null;
  /** The version has learned weights (trained, or uploaded); false for a preset's architecture alone. */
  trained: boolean;
}

/** "[640, 640]" (python inspect's metadata_props.imgsz) -> 640. */
export function imgszFromMetadata(metadata: Record<string, unknown> | null | undefined): number | null {
  const props = (metadata?.metadata_props ?? {}) as Record<string, unknown>;
  const m = /(\d+)/.exec(String(props.imgsz ?? ''));
  return m ? Number(m[1]) : null;
}

/** What a bench job measures, derived from the shared registry client's answers. */
@Injectable()
export class BenchRegistryClient {
  private readonly registry: RegistryClient;

  constructor(bus: MessageBus, @Inject(BENCH_OPTIONS) options: BenchOptions) {
    this.registry = new RegistryClient(bus, options.registryTimeoutMs);
  }

  async describeModel(modelId: string): Promise<BenchModelFacts> {
    const model = await this.registry.describeModel(modelId);
    const withOnnx = [...model.versions].filter((v) => v.onnxPath).sort((a, b) => b.version - a.version)[0];
    if (!withOnnx?.onnxPath) throw new PermanentJobError(`model ${modelId} has no ONNX version yet: convert it first`);
    return {
      id: model.id,
      name: model.name,
      task: model.task,
      version: withOnnx.version,
      onnxPath: withOnnx.onnxPath,
      imgsz: imgszFromMetadata(withOnnx.metadata),
      trained: withOnnx.trained,
    };
  }

  /** The validated data set's folder and format (a YOLO set's labels give detectors an mAP change). */
  async dataset(datasetId: string): Promise<{ path: string; format: 'yolo' | 'imagefolder' }> {
    const dataset = await this.registry.describeDataset(datasetId);
    if (!dataset.valid) throw new PermanentJobError(`dataset ${datasetId} did not pass validation`);
    return { path: dataset.path, format: dataset.format };
  }
}
