// The trainer-bridge service as other projects' tests see it, as `@cvp/trainer-bridge/testing`:
// only the cross-service suites in e2e/flows import it (lint refuses it everywhere else).
export { maxOverlap } from './overlap';
export { startTrainerBridge, type TrainerBridgeTestApp } from './trainer-bridge-app';
