import { Injectable } from '@nestjs/common';
import { REGISTRY_UNAVAILABLE, RegistryLookups } from '@cvp/contracts';
import { RespondsTo } from '@cvp/jobs';
import { BenchmarksService } from './benchmarks.service';

/** Answers cvp.registry.benchmark.latest, so workers (packager, inference) learn bench's choice for a model. */
@Injectable()
export class BenchmarksResponder {
  constructor(private readonly benchmarks: BenchmarksService) {}

  @RespondsTo(RegistryLookups.latestBenchmark, { onError: () => REGISTRY_UNAVAILABLE })
  async latest(req: { modelId: string }) {
    // Same answer as latestSelection(): the newest benchmark that selected an engine, else the newest one.
    const b = (await this.benchmarks.latestSelected(req.modelId)) ?? (await this.benchmarks.latest(req.modelId));
    if (!b) return { found: false };
    return {
      found: true,
      benchmark: {
        id: b.id,
        modelId: b.modelId,
        modelVersion: b.modelVersion,
        reportDir: b.reportDir,
        selected: b.selected,
        createdAt: b.createdAt,
      },
    };
  }
}
