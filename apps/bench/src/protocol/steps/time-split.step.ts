import type { ProtocolStep } from '../protocol-step';

/** Step 6: where a request's time goes, as each batch-1 candidate measured it. */
export const timeSplitStep: ProtocolStep = {
  step: 6,
  name: () => 'time split pre-processing / inference / post-processing',
  async run(ctx, rec) {
    const split = ctx.candidates.filter((c) => c.timeSplit);
    rec.details.splits = Object.fromEntries(split.map((c) => [c.id, c.timeSplit]));
    rec.candidateIds.push(...split.map((c) => c.id));
    rec.details.method =
      'pre: decode + resize + normalize a seeded 640x480 JPEG; infer: the engine; post: YOLO decode + NMS (detect) or softmax top-5 (classify). Native: the core reports its own timing.';
    if (split.length === 0) rec.reasons.push('no candidate measured a time split');
  },
};
