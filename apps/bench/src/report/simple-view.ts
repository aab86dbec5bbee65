import type { BenchCandidate, BenchReport, SimpleView } from '@cvp/contracts';

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}`;
const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

/** "ort-node, INT8 (static), graph optimization all, 1 thread" */
export function describeCandidate(c: BenchCandidate): string {
  const variant = { fp32: 'FP32', fp16: 'FP16', 'int8-static': 'INT8 (static)', 'int8-dynamic': 'INT8 (dynamic)' }[
    c.variant
  ];
  const engine = c.engine === 'native' ? 'the native C++ core' : 'onnxruntime-node';
  const threads =
    c.options.threads === 0 ? 'default threads' : `${c.options.threads} thread${c.options.threads === 1 ? '' : 's'}`;
  return `${engine} on ${c.options.provider.toUpperCase()}, ${variant}, graph optimization "${c.options.graphOptimization}", ${threads}`;
}

/** The plain-language verdict: what was chosen, how much faster, accuracy impact, caveats. */
export function buildSimpleView(r: Omit<BenchReport, 'simple'>): SimpleView {
  const base = r.candidates.find((c) => c.id === r.baselineId)!;
  const chosen = r.candidates.find((c) => c.id === r.decision.chosenId) ?? null;
  const caveats: string[] = [];
  const limit = r.decision.effectiveConstraints.maxAccuracyDrop;
  if (r.settings.inputSource.startsWith('seeded'))
    caveats.push(
      'Measured with seeded synthetic inputs, not your images: attach a data set for agreement and calibration on real data (mAP change needs a labelled data set).',
    );
  const unstable = r.candidates.filter((c) => c.latency.unstable);
  if (unstable.length)
    caveats.push(
      `${unstable.length} measurement(s) stayed noisy (CV above ${r.settings.cvThreshold}) after ${r.settings.maxAttempts} attempts; they are marked unstable in the technical report.`,
    );
  for (const st of r.steps.filter((x) => x.status !== 'done'))
    caveats.push(`Step ${st.step} (${st.name}) was ${st.status}: ${st.reasons.join('; ')}`);
  const partial = r.steps.filter((x) => x.status === 'done' && x.reasons.some((y) => /skipped|failed/.test(y)));
  for (const st of partial)
    caveats.push(`Step ${st.step}: ${st.reasons.filter((y) => /skipped|failed/.test(y)).join('; ')}`);
  if (r.stability.some((x) => !x.passed))
    caveats.push('The stability run saw errors: do not deploy before looking at the technical report.');
  const policy = r.decision.accuracyPolicy?.whenNotAssessable ?? 'refuse';
  const notAssessable = r.candidates.filter((c) => c.selectable && c.agreement?.assessable === false);
  if (notAssessable.length) {
    const why = notAssessable[0].agreement!.notAssessableReason;
    caveats.push(
      policy === 'accept'
        ? `Accuracy could not be assessed for ${notAssessable.length} configuration(s) (${why}); you chose to accept them (whenAccuracyNotAssessable: accept), so the choice may lose accuracy nobody measured.`
        : `Accuracy could not be assessed for ${notAssessable.length} configuration(s) (${why}), so they were refused and only the baseline could pass the accuracy limit. Attach a labelled data set to a trained model, or set whenAccuracyNotAssessable to accept them with this caveat.`,
    );
  }

  if (!chosen) {
    const closest = r.decision.closest;
    return {
      headline:
        r.decision.status === 'infeasible' ? 'No engine meets your constraints.' : 'No engine could be measured.',
      chosen: null,
      speedup: null,
      baselineP50Ms: base.latency.p50Ms,
      chosenP50Ms: null,
      accuracyImpact: 'Not applicable: nothing was selected.',
      recommendation: closest
        ? `The closest is ${closest.candidateId}, which fails ${closest.failed.join(' and ')}. Relax ${closest.failed.length > 1 ? 'those limits' : 'that limit'} or use a faster machine. ${r.decision.summary}`
        : 'Check the technical report for the errors of each step.',
      caveats,
    };
  }
  const speedup = chosen.latency.p50Ms > 0 ? Math.round((base.latency.p50Ms / chosen.latency.p50Ms) * 100) / 100 : null;
  const a = chosen.agreement;
  const assessable = chosen.id === base.id || !a || a.assessable !== false;
  const bound =
    a?.bound?.of === 'mapChange'
      ? ` (95 % interval of the change over the images: ${signed(a.bound.lower)} to ${signed(a.bound.upper)} points)`
      : '';
  const accuracyImpact =
    chosen.id === base.id || !a
      ? 'None: the chosen engine is the baseline configuration itself.'
      : !assessable
        ? `Not assessable: ${a.notAssessableReason ?? 'no accuracy figure'}. Whether this configuration loses accuracy was not measured; it was accepted because the job said so (whenAccuracyNotAssessable: accept).`
        : a.map && a.mapChange !== null
          ? `On ${a.map.images} labelled image(s) of your data set, mAP@0.5 is ${a.map.map50.toFixed(3)} against ${a.map.baselineMap50.toFixed(3)} for the unoptimized model (${a.mapChange >= 0 ? 'no loss' : `a drop of ${(-a.mapChange * 100).toFixed(1)} points`}${bound}; allowed drop ${(limit * 100).toFixed(1)} points).`
          : a.top1Agreement !== null
            ? `Top-1 class agrees with the unoptimized model on ${(a.top1Agreement * 100).toFixed(1)} % of test inputs (allowed drop ${(limit * 100).toFixed(1)} %).`
            : `Outputs match the unoptimized model closely: cosine similarity ${a.cosine.toFixed(5)}, largest difference ${a.maxAbsDiff.toExponential(2)}${a.scoreMaxAbsDiff !== null ? `, largest confidence change ${a.scoreMaxAbsDiff.toExponential(2)}` : ''} (allowed drop ${(limit * 100).toFixed(1)} %).`;
  const faster =
    speedup === null
      ? ''
      : speedup >= 1.05
        ? `${speedup.toFixed(2)}x faster than`
        : speedup > 0.95
          ? 'about as fast as'
          : `${(1 / speedup).toFixed(2)}x slower than`;
  return {
    headline: `Use ${describeCandidate(chosen)}: ${faster} the unoptimized baseline (median ${ms(chosen.latency.p50Ms)} vs ${ms(base.latency.p50Ms)} per image).`,
    chosen: chosen.id,
    speedup,
    baselineP50Ms: base.latency.p50Ms,
    chosenP50Ms: chosen.latency.p50Ms,
    accuracyImpact,
    accuracyAssessable: assessable,
    recommendation: `Deploy this model with engine "selected" to get this configuration. 95 % of requests took under ${ms(chosen.latency.p95Ms)} with one caller; ${r.decision.candidates.filter((c) => c.feasible).length} of ${r.decision.candidates.length} configurations met your constraints.`,
    caveats,
  };
}
