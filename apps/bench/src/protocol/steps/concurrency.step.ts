import { runHttpLoad, servedConcurrencyPoint } from '@cvp/measure';
import { loadTargets } from '../candidates';
import type { ProtocolStep } from '../protocol-step';
import { endpointOf, noServingPath, requestUrl, servedBodies, withScratchDeployment } from '../served';

/** How long one request may stay unanswered before the load generator counts a timeout (the data plane's deadline is 30 s by default). */
export const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Step 8: the concurrency sweep through the serving path. The chosen candidate and the fastest of
 * each engine are deployed, one at a time, as scratch deployments on the data plane (its own
 * admission pool, queue cap and deadline) and driven over HTTP with the load benchmark's generator;
 * every request is counted as answered, 429 (queue full), 429 (deadline), error or unanswered.
 * While the chosen one serves its highest level, a CPU profile of the serving process names the
 * functions that held its CPU. Each deployment is removed afterwards, whatever happened.
 */
export const concurrencyStep: ProtocolStep = {
  step: 8,
  name: () => 'concurrency sweep through the serving path',
  skipReason: (ctx) => noServingPath(ctx),
  async run(ctx, rec) {
    const sp = ctx.servingPath!;
    const levels = ctx.options.concurrency;
    const top = Math.max(...levels);
    const { bodies, description } = await servedBodies(ctx);
    rec.details.levels = levels;
    rec.details.servingPath = {
      url: sp.baseUrl,
      endpoint: endpointOf(ctx),
      requests: description,
      admission: "the data plane's own settings (CVP_INFER_WORKERS, CVP_INFER_QUEUE_CAP, CVP_INFER_DEADLINE_MS)",
      generator: 'autocannon, as scripts/load-bench.js: closed-loop users on keep-alive connections',
      perLevel: `max(users, ${ctx.options.concurrencyRequests}) requests`,
    };
    const targets = loadTargets(ctx);
    let failed = 0;
    for (const [i, c] of targets.entries()) {
      ctx.progressIn(8, i / targets.length, 'step 8: concurrency sweep on the data plane', { candidate: c.id });
      try {
        await withScratchDeployment(ctx, rec, c, `s8-${i + 1}`, async (d) => {
          for (const users of levels) {
            const r = await runHttpLoad({
              url: requestUrl(ctx, d),
              headers: d.headers,
              bodies,
              connections: users,
              amount: Math.max(users, ctx.options.concurrencyRequests),
              requestTimeoutMs: REQUEST_TIMEOUT_MS,
              signal: ctx.signal,
            });
            ctx.signal?.throwIfAborted();
            ctx.concurrency.push(servedConcurrencyPoint(c.id, users, r));
          }
          if (i === 0 && ctx.options.profileMs > 0) {
            // The profiled window: the highest level for a fixed time, the serving process sampled meanwhile.
            const [profile, r] = await Promise.all([
              sp.cpuProfile(ctx.options.profileMs, 15).catch((e: Error) => ({ error: e.message })),
              runHttpLoad({
                url: requestUrl(ctx, d),
                headers: d.headers,
                bodies,
                connections: top,
                durationMs: ctx.options.profileMs,
                requestTimeoutMs: REQUEST_TIMEOUT_MS,
                signal: ctx.signal,
              }),
            ]);
            const load = servedConcurrencyPoint(c.id, top, r);
            rec.details.cpuProfile =
              'error' in profile
                ? { candidate: c.id, error: profile.error }
                : {
                    candidate: c.id,
                    users: top,
                    pid: profile.pid,
                    ...profile.profile,
                    load: {
                      answered: load.answered,
                      rejected: load.rejected,
                      deadlineExpired: load.deadlineExpired,
                      errors: load.errors,
                      throughputRps: load.throughputRps,
                    },
                    note: "the serving process's main thread; ONNX Runtime in worker threads, libvips and the native core count as idle there",
                  };
            if ('error' in profile) rec.reasons.push(`CPU profile: failed: ${profile.error}`);
          }
        });
        rec.candidateIds.push(c.id);
      } catch (e) {
        if (ctx.signal?.aborted) throw e;
        failed++;
        rec.reasons.push(`${c.id}: failed: ${(e as Error).message}`);
      }
    }
    if (targets.length === 0) throw new Error('no candidate to load');
    if (failed === targets.length) throw new Error(`no candidate could be loaded on the data plane at ${sp.baseUrl}`);
  },
};
