import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
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
  /** Reused from the variant cache. */
  cached: boolean;
  /** INT8 static: where python's calibration inputs came from (e.g. "16 images from <dir>"). */
  calibration: string | null;
}

export interface VariantOptions {
  python: string;
  cwd: string;
  inputShape: number[];
  calibDir?: string | null;
  seed: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Folder of variants already made (same model bytes, kind, shape, seed, calibration): reused instead of re-made. */
  cacheDir?: string | null;
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Variants are deterministic in their inputs, so a second benchmark of the same model reuses them. */
export async function variantCacheKey(
  model: string,
  kind: string,
  o: Pick<VariantOptions, 'inputShape' | 'calibDir' | 'seed'>,
): Promise<string> {
  return createHash('sha256')
    .update(JSON.stringify([await sha256(model), kind, o.inputShape, o.calibDir ?? null, o.seed]))
    .digest('hex')
    .slice(0, 32);
}

/** `python -m cvp_ml variant`: FP16 (keep_io_types), INT8 static QDQ, INT8 dynamic. Never throws for a failed variant. */
export async function makeVariant(
  model: string,
  kind: VariantResult['kind'],
  outDir: string,
  o: VariantOptions,
): Promise<VariantResult> {
  const out = path.join(outDir, `${kind}.onnx`);
  const key = o.cacheDir ? await variantCacheKey(model, kind, o) : null;
  const cached = key ? path.join(o.cacheDir!, `${key}.onnx`) : null;
  if (cached) {
    const meta = await fs.readFile(`${cached}.json`, 'utf8').catch(() => null);
    if (meta && (await fs.stat(cached).catch(() => null))) {
      await fs.copyFile(cached, `${out}.tmp`);
      await fs.rename(`${out}.tmp`, out);
      const m = JSON.parse(meta) as { agreement: Record<string, unknown> | null; calibration?: string | null };
      return {
        kind,
        path: out,
        agreement: m.agreement,
        error: null,
        durationMs: 0,
        cached: true,
        calibration: m.calibration ?? null,
      };
    }
  }
  const args = [
    '-m',
    'cvp_ml',
    'variant',
    '--model',
    model,
    '--kind',
    kind,
    '--out',
    out,
    '--seed',
    String(o.seed),
    '--input-shape',
    o.inputShape.join(','),
  ];
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
    const agreement = (res.agreement as Record<string, unknown>) ?? null;
    const calibration = typeof res.calibration === 'string' ? res.calibration : null;
    if (cached) {
      await fs.mkdir(o.cacheDir!, { recursive: true });
      await fs.copyFile(String(res.onnx ?? out), `${cached}.tmp`);
      await fs.rename(`${cached}.tmp`, cached);
      await fs.writeFile(`${cached}.json`, JSON.stringify({ kind, agreement, calibration, source: model }));
    }
    return {
      kind,
      path: String(res.onnx ?? out),
      agreement,
      error: null,
      durationMs: r.durationMs,
      cached: false,
      calibration,
    };
  }
  const why = r.timedOut
    ? `timed out after ${o.timeoutMs} ms`
    : (error ?? `exit ${r.exitCode ?? r.signal}: ${r.stderrTail.slice(-400)}`);
  return { kind, path: null, agreement: null, error: why, durationMs: r.durationMs, cached: false, calibration: null };
}
