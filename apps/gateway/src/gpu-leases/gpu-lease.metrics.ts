import { metricsRegistry } from '@cvp/platform';
import { Counter, Gauge, Histogram } from 'prom-client';

export const leasesInUse = new Gauge({
  name: 'cvp_gpu_leases_in_use',
  help: 'GPU lease tokens held right now, per node',
  labelNames: ['node'] as const,
  registers: [metricsRegistry],
});
export const leaseQueueDepth = new Gauge({
  name: 'cvp_gpu_lease_queue_depth',
  help: 'Acquires waiting for a GPU lease token',
  registers: [metricsRegistry],
});
export const leaseWaitSeconds = new Histogram({
  name: 'cvp_gpu_lease_wait_seconds',
  help: 'Time from an acquire entering the queue to its grant',
  labelNames: ['priority'] as const,
  buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200],
  registers: [metricsRegistry],
});
export const leaseExpirations = new Counter({
  name: 'cvp_gpu_lease_expirations_total',
  help: 'Leases taken back because their holder stopped renewing',
  registers: [metricsRegistry],
});
export const leaseFencedCommits = new Counter({
  name: 'cvp_gpu_lease_fenced_commits_total',
  help: 'Results of GPU work refused at commit because their lease had been taken from the holder',
  registers: [metricsRegistry],
});
