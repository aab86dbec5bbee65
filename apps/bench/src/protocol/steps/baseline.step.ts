import type { Agreement } from '@cvp/contracts';
import type { CandidateConfig } from '../candidate-config';
import { notAssessableReason, planFor, toCandidate, withMap } from '../candidates';
import type { ProtocolStep } from '../protocol-step';

/**
 * Step 1: ONNX Runtime on the CPU, FP32, graph optimizations off: the ground truth for outputs.
 * It writes the outputs every later candidate is compared with (one file per agreement input)
 * and scores the baseline mAP with its per-image matches; its own agreement is identity by
 * definition. It also says up front whether this run can assess accuracy at all.
 */
export const baselineStep: ProtocolStep = {
  step: 1,
  name: () => 'baseline: ONNX Runtime CPU FP32, graph optimizations off',
  async run(ctx, rec) {
    const task = ctx.input.model.task;
    const config: CandidateConfig = {
      engine: 'ort-node',
      provider: 'cpu',
      variant: 'fp32',
      modelPath: ctx.input.model.path,
      graphOptimization: 'disabled',
      threads: 0,
      batch: 1,
    };
    const m = await ctx.measurers['ort-node'].measure(
      config,
      planFor(ctx, config, {
        compareWith: null,
        writeOutputsTo: ctx.dirs.baselineOutputs,
        mapEval: ctx.map.plan ? { ...ctx.map.plan, writeMatchesTo: ctx.dirs.baselineMatches } : null,
      }),
      ctx.signal,
    );
    ctx.inputSource = m.inputSource;
    if (ctx.map.plan && !m.detectionMap)
      ctx.map.reason = `the baseline could not be scored: ${m.mapError ?? 'no result'}`;
    else if (m.detectionMap && m.detectionMap.map50 === null)
      ctx.map.reason = `no ground-truth boxes in the ${m.detectionMap.images} scored image(s) of split ${m.detectionMap.split}`;
    else ctx.map.baseline = m.detectionMap;
    const baseline = toCandidate(ctx, 1, config, m);
    const source = /seeded synthetic/.test(m.inputSource) ? 'seeded' : 'dataset';
    const inputCount = Number(/^(\d+)/.exec(m.inputSource)?.[1] ?? ctx.options.agreementSamples);
    const identical: Agreement = {
      maxAbsDiff: 0,
      meanAbsDiff: 0,
      cosine: 1,
      top1Agreement: task === 'classify' ? 1 : null,
      scoreMaxAbsDiff: task === 'detect' ? 0 : null,
      mapChange: null,
      accuracyDrop: 0,
      samples: inputCount,
      accuracyBasis: task === 'classify' ? 'top1' : 'cosine',
      inputs: { count: inputCount, source, description: m.inputSource },
      bound: null,
    };
    // The reference itself: its drop is 0 by definition, whatever the inputs can tell.
    const judged = withMap(ctx, identical, m)!;
    baseline.agreement = { ...judged, accuracyDrop: 0, assessable: true, notAssessableReason: null };
    ctx.baseline = baseline;
    ctx.candidates.push(baseline);
    rec.candidateIds.push(baseline.id);
    rec.details.threads = 'ONNX Runtime default (0)';
    rec.details.agreementInputs = m.inputSource;
    const why = notAssessableReason(ctx, judged);
    rec.details.accuracy = why
      ? {
          assessable: false,
          reason: why,
          policy: ctx.input.whenAccuracyNotAssessable ?? 'refuse',
        }
      : { assessable: true, basis: judged.accuracyBasis };
    if (why)
      rec.reasons.push(
        `accuracy not assessable: ${why}; candidates are ${(ctx.input.whenAccuracyNotAssessable ?? 'refuse') === 'accept' ? 'accepted with a caveat' : 'refused'} on maxAccuracyDrop (whenAccuracyNotAssessable)`,
      );
    if (task === 'detect') {
      rec.details.map = ctx.map.baseline
        ? {
            ...ctx.map.baseline,
            rule: 'accuracyDrop = max(0, baseline mAP@0.5 - candidate mAP@0.5) for every candidate scored on these images; the bound is a paired bootstrap over the images',
          }
        : { skipped: ctx.map.reason };
      if (!ctx.map.baseline)
        rec.reasons.push(`mAP change: skipped: ${ctx.map.reason}; accuracy drop is 1 - cosine of the outputs`);
    }
  },
};
