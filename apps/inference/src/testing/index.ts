// The inference service as other projects' tests see it, as `@cvp/inference/testing`: only the
// cross-service suites in e2e/flows import it (lint refuses it everywhere else).
export { FIXTURES, type Harness as InferenceHarness, startInference } from './inference-harness';
