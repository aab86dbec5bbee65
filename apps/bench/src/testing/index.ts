// The bench service as other projects' tests see it, as `@cvp/bench/testing`: only the
// cross-service suites in e2e/flows import it (lint refuses it everywhere else).
export { makeYoloPreset } from './bench-fixtures';
export { startBenchWorker } from './bench-worker';
export { fixtureReport } from './report-fixture';
export { writeReport } from '../report/report-writer';
export { testProtocolContext } from './protocol-context';
export { runStep } from '../protocol/protocol-step';
export { concurrencyStep, stabilityStep, timeSplitStep } from '../protocol/steps';
export { selectEngine } from '../selection/engine-selector';
export { ScratchDeploymentsPublisher } from '../serving/scratch-deployments.publisher';
