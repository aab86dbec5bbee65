import { existsSync } from 'node:fs';
import path from 'node:path';
import { Module, type OnModuleInit } from '@nestjs/common';
import { RegistryClient } from '@cvp/jobs';
import { InjectConfig, MessageBus, ReadinessChecks, SERVICE_CONFIG } from '@cvp/platform';
import type { PackagerConfig } from '../config';
import { INFERENCE_ENTRY } from './app-payload';
import { BundleAssembler } from './bundle-assembler.service';
import { PackageWriter } from './package-writer.service';

/** What the package job handler needs: registry facts -> bundle files -> folder + tarball. */
@Module({
  providers: [
    {
      provide: RegistryClient,
      inject: [MessageBus, SERVICE_CONFIG],
      useFactory: (bus: MessageBus, c: PackagerConfig) => new RegistryClient(bus, c.CVP_PACKAGER_REGISTRY_TIMEOUT_MS),
    },
    BundleAssembler,
    PackageWriter,
  ],
  exports: [RegistryClient, BundleAssembler, PackageWriter],
})
export class PackagingModule implements OnModuleInit {
  constructor(
    private readonly readiness: ReadinessChecks,
    @InjectConfig() private readonly config: PackagerConfig,
  ) {}

  onModuleInit() {
    // A packager without the compiled data plane would fail every job: say so on /health/ready.
    const main = path.resolve(this.config.CVP_PACKAGER_PLATFORM_ROOT, 'dist', INFERENCE_ENTRY);
    this.readiness.register(
      'platform-build',
      () => existsSync(main) || `compiled data plane missing at ${main} (npm run build)`,
    );
  }
}
