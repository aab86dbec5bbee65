// The packager service as other projects' tests see it, as `@cvp/packager/testing`: only the
// cross-service suites in e2e/flows import it (lint refuses it everywhere else).
export { makeYoloModel, platformSnapshot, scratchDir } from './fixtures';
export { startPackagerWorker } from './packager-worker';
