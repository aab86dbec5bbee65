// The gateway as other projects' tests see it, as `@cvp/gateway/testing`: only the cross-service
// suites in e2e/flows import it (lint refuses it everywhere else), and the build leaves it out.
export { type GatewayTestApp, type GatewayTestOptions, startGatewayTestApp, TEST_PASSWORDS } from './gateway-test-app';
export { seedConvertedModel, type SeedModelOptions } from './seed-model';
export { uploadMultipart } from './upload-helpers';
export { buildZip } from './zip-writer';

// Providers and tables the cross-service suites drive or assert on directly.
export { BenchmarkEntity } from '../benchmarks/benchmark.entity';
export { BenchmarksService } from '../benchmarks/benchmarks.service';
