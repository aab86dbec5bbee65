import type { JobContext } from '@cvp/jobs';
import type { PyProgressLine } from './python-wire';

/** Progress lines of conversion and preset commands -> coarse job progress by stage. */
const CONVERT_STAGES: Record<string, number> = { build: 0.1, convert: 0.2, export: 0.4, validate: 0.7 };

export function relayConvertProgress(ctx: JobContext) {
  return (line: PyProgressLine) => {
    const { type: _t, ts: _ts, stage, ...detail } = line;
    ctx.progress({ stage, progress: CONVERT_STAGES[stage], detail });
  };
}

/** Per-epoch training progress in the job's terms (epoch, losses, metrics, lr, ETA). */
export function epochProgress(line: PyProgressLine, span: [number, number] = [0, 0.9]) {
  const epoch = Number(line.epoch);
  const epochs = Number(line.epochs);
  const frac = epochs > 0 ? Math.min(1, epoch / epochs) : 0;
  return {
    stage: 'epoch',
    progress: span[0] + (span[1] - span[0]) * frac,
    detail: {
      epoch,
      epochs,
      losses: line.losses,
      metrics: line.metrics,
      lr: line.lr,
      elapsedS: line.elapsed_s,
      etaS: line.eta_s,
    },
  };
}
