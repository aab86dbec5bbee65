import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectLogger, MessageBus } from '@cvp/platform';
import { LatestBenchmarkReply, LatestBenchmarkRequest, Registry } from '@cvp/contracts';
import type { Logger } from 'pino';
import { BenchmarksService } from './benchmarks.service';

/** Answers `cvp.registry.benchmark.latest` so workers (packager, inference) learn bench's choice. */
@Injectable()
export class BenchmarkRegistryResponder implements OnApplicationBootstrap {
  constructor(
    private readonly bus: MessageBus,
    private readonly benchmarks: BenchmarksService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  onApplicationBootstrap() {
    this.bus.subscribe(
      LatestBenchmarkRequest,
      Registry.latestBenchmark,
      async (req, msg) => {
        try {
          // Same answer as latestSelection(): the newest benchmark that selected an engine, else the newest one.
          const b = (await this.benchmarks.latestSelected(req.modelId)) ?? (await this.benchmarks.latest(req.modelId));
          if (!b) return this.bus.respond(msg, LatestBenchmarkReply, { found: false });
          this.bus.respond(msg, LatestBenchmarkReply, {
            found: true,
            benchmark: {
              id: b.id,
              modelId: b.modelId,
              modelVersion: b.modelVersion,
              reportDir: b.reportDir,
              selected: b.selected,
              createdAt: b.createdAt,
            },
          });
        } catch (e) {
          this.logger.error({ err: e, modelId: req.modelId }, 'benchmark.latest failed');
          this.bus.respond(msg, LatestBenchmarkReply, { found: false, unavailable: true });
        }
      },
      { queue: 'gateway' },
    );
  }
}
