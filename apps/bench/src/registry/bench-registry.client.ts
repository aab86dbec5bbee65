import { Inject, Injectable } from '@nestjs/common';
import { DescribeDatasetReply, DescribeDatasetRequest, DescribeModelReply, DescribeModelRequest, Registry } from '@cvp/contracts';
import { PermanentJobError, RetryableJobError } from '@cvp/jobs';
import { MessageBus } from '@cvp/platform';
import { BENCH_SETTINGS, type BenchServiceSettings } from '../bench-settings';

export interface BenchModelFacts {
  id: string;
  name: string;
  task: 'detect' | 'classify';
  version: number;
  onnxPath: string;
  imgsz: number | null;
}

/** "[640, 640]" (python inspect's metadata_props.imgsz) -> 640. */
export function imgszFromMetadata(metadata: Record<string, unknown> | null | undefined): number | null {
  const props = (metadata?.metadata_props ?? {}) as Record<string, unknown>;
  const m = /(\d+)/.exec(String(props.imgsz ?? ''));
  return m ? Number(m[1]) : null;
}

/** The gateway's registry over NATS: which ONNX file and data set a bench job measures. */
@Injectable()
export class BenchRegistryClient {
  constructor(
    private readonly bus: MessageBus,
    @Inject(BENCH_SETTINGS) private readonly settings: BenchServiceSettings,
  ) {}

  async describeModel(modelId: string): Promise<BenchModelFacts> {
    let reply: DescribeModelReply;
    try {
      reply = await this.bus.request(DescribeModelRequest, DescribeModelReply, Registry.describeModel, { modelId }, this.settings.registryTimeoutMs);
    } catch (e) {
      throw new RetryableJobError(`model registry did not answer: ${(e as Error).message}`);
    }
    if (!reply.found || !reply.model) throw new PermanentJobError(`model ${modelId} not found${reply.error ? `: ${reply.error}` : ''}`);
    const withOnnx = [...reply.model.versions].filter((v) => v.onnxPath).sort((a, b) => b.version - a.version)[0];
    if (!withOnnx?.onnxPath) throw new PermanentJobError(`model ${modelId} has no ONNX version yet: convert it first`);
    return { id: reply.model.id, name: reply.model.name, task: reply.model.task, version: withOnnx.version, onnxPath: withOnnx.onnxPath, imgsz: imgszFromMetadata(withOnnx.metadata) };
  }

  async datasetPath(datasetId: string): Promise<string> {
    let reply: DescribeDatasetReply;
    try {
      reply = await this.bus.request(DescribeDatasetRequest, DescribeDatasetReply, Registry.describeDataset, { datasetId }, this.settings.registryTimeoutMs);
    } catch (e) {
      throw new RetryableJobError(`dataset registry did not answer: ${(e as Error).message}`);
    }
    if (!reply.found || !reply.dataset) throw new PermanentJobError(`dataset ${datasetId} not found`);
    if (!reply.dataset.valid) throw new PermanentJobError(`dataset ${datasetId} did not pass validation`);
    return reply.dataset.path;
  }
}
