import { metricsRegistry } from '@cvp/platform';
import { Counter } from 'prom-client';

export const transitionConflicts = new Counter({
  name: 'cvp_job_transition_conflicts_total',
  help: 'Job state changes decided again because another writer (another gateway) changed the job first',
  registers: [metricsRegistry],
});
