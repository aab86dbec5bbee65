// Test doubles of libs/jobs for other projects' tests, as `@cvp/jobs/testing`. Production code
// never imports this entry point (lint refuses it outside tests), and the build leaves it out.
export { FIXTURE_LEASES, FixtureConvertHandler, type FixtureLeaseClient } from './fixture-handlers';
