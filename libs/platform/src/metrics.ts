import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One Prometheus registry per process, with process metrics (CPU, RSS, event-loop lag, GC).
 * Services add their own metrics to `metricsRegistry`.
 */
export const metricsRegistry = new Registry();
let defaultsCollected = false;

export function initProcessMetrics(service: string): Registry {
  if (!defaultsCollected) {
    metricsRegistry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: metricsRegistry });
    defaultsCollected = true;
  }
  return metricsRegistry;
}

/** Messages refused because they did not match their contract (either direction). */
export const contractRejections = new Counter({
  name: 'cvp_contract_rejections_total',
  help: 'NATS payloads rejected by libs/contracts validation',
  labelNames: ['contract', 'direction'] as const,
  registers: [metricsRegistry],
});
