import type { ProtocolStep } from '../protocol-step';

/** Step 7: peak RSS of every candidate; peak VRAM of the GPU ones, or why NVML could not attribute it. */
export const memoryStep: ProtocolStep = {
  step: 7,
  name: () => 'peak RSS per engine; peak VRAM (NVML)',
  async run(ctx, rec) {
    rec.details.peakRssMb = Object.fromEntries(ctx.candidates.map((c) => [c.id, c.peakRssMb]));
    rec.candidateIds.push(...ctx.candidates.map((c) => c.id));
    rec.details.method =
      'each engine measured alone in a fresh process (ort-node: child node process, native: its own core process); peak = the process high-water mark';
    const gpu = ctx.candidates.filter((c) => c.options.provider !== 'cpu');
    if (gpu.length) {
      rec.details.peakVramMb = Object.fromEntries(gpu.map((c) => [c.id, c.peakVramMb]));
      rec.details.vramMethod =
        "NVML's per-process figure, sampled every 50 ms from before the model loaded until the last inference; the peak of those samples";
      for (const c of gpu.filter((x) => x.peakVramMb === null))
        rec.reasons.push(`${c.id}: VRAM not attributable: ${c.vramReason ?? 'no figure'}`);
    } else
      rec.reasons.push(`VRAM: skipped: ${ctx.host.gpu.present ? 'no GPU engine was measured' : ctx.host.gpu.reason}`);
  },
};
