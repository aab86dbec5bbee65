import { AuthRegistry1764230000000 } from './1764230000000-auth-registry';
import { Benchmarks1764237600000 } from './1764237600000-benchmarks';
import { Jobs1764241200000 } from './1764241200000-jobs';
import { Packages1764248400000 } from './1764248400000-packages';
import { Deployments1764252000000 } from './1764252000000-deployments';
import { UiSessions1764259200000 } from './1764259200000-ui-sessions';
import { Ownership1764400000000 } from './1764400000000-ownership';
import { PostgresDoublePrecision1764900000000 } from './1764900000000-postgres-double-precision';
import { JobWorkerEvent1765100000000 } from './1765100000000-job-worker-event';

/**
 * Every migration of the gateway database, in order. Each feature adds its own file
 * (<timestamp>-<feature>.ts) and appends it here; never edit a migration that has landed.
 */
export const ALL_MIGRATIONS: (new () => unknown)[] = [
  AuthRegistry1764230000000,
  Benchmarks1764237600000,
  Jobs1764241200000,
  Packages1764248400000,
  Deployments1764252000000,
  UiSessions1764259200000,
  Ownership1764400000000,
  PostgresDoublePrecision1764900000000,
  JobWorkerEvent1765100000000,
];
