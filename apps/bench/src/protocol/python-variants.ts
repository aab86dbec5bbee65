import path from 'node:path';
import { runProcess } from '@cvp/jobs';
import type { VariantKind } from '@cvp/contracts';

export interface VariantResult {
  kind: Exclude<VariantKind, 'fp32'>;
  path: string | null;
  /** Agreement python measured against the FP32 source (its own check), when it made one. */
  agreement: Record<string, unknown> | null;
  error: string | null;
  durationMs: number;
}

export interface VariantOptions {
  python: string;
  cwd: string;
  inputShape: number[];
  calibDir?: string | null;
  seed: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** `python -m cvp_ml variant`: FP16 (keep_io_types), INT8 static QDQ, INT8 dynamic. Never throws for a failed variant. */
export async function makeVariant(model: string, kind: VariantResult['kind'], outDir: string, o: VariantOptions): Promise<VariantResult> {
  const out = path.join(outDir, `${kind}.onnx`);
  const args = ['-m', 'cvp_ml', 'variant', '--model', model, '--kind', kind, '--out', out, '--seed', String(o.seed), '--input-shape', o.inputShape.join(',')];
  if (o.calibDir && kind === 'int8-static') args.push('--calib-dir', o.calibDir);
  let result: Record<string, unknown> | null = null;
  let error: string | null = null;
  const r = await runProcess({
    command: o.python,
    args,
    cwd: o.cwd,
    env: { ...process.env, PYTHONPATH: o.cwd, PYTHONUNBUFFERED: '1' },
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    onJson: (obj) => {
      if (obj.type === 'result') result = obj;
      if (obj.type === 'error') error = `${String(obj.code)}: ${String(obj.message)}`;
    },
  });
  if (r.aborted) throw new Error('cancelled');
  const res = result as Record<string, unknown> | null;
  if (r.exitCode === 0 && res) {
    return { kind, path: String(res.onnx ?? out), agreement: (res.agreement as Record<string, unknown>) ?? null, error: null, durationMs: r.durationMs };
  }
  const why = r.timedOut ? `timed out after ${o.timeoutMs} ms` : (error ?? `exit ${r.exitCode}: ${r.stderrTail.slice(-400)}`);
  return { kind, path: null, agreement: null, error: why, durationMs: r.durationMs };
}
