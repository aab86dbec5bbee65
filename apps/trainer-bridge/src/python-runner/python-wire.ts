/**
 * The wire format of `python -m cvp_ml` (python/cvp_ml/wire.py): stdout carries only JSON lines,
 * one object each; exactly one final `result` or `error` line ends a run.
 */
export const PY_EXIT = { ok: 0, other: 1, badInput: 2, oom: 3, cancelled: 4 } as const;

export interface PyProgressLine {
  type: 'progress';
  ts: number;
  stage: string;
  [k: string]: unknown;
}
export interface PyResultLine {
  type: 'result';
  ts: number;
  command: string;
  [k: string]: unknown;
}
export interface PyErrorLine {
  type: 'error';
  ts: number;
  code: string;
  message: string;
  [k: string]: unknown;
}
export type PyLine = PyProgressLine | PyResultLine | PyErrorLine;

/** Classifies one JSON object from stdout; anything that is not a wire-format line reads as undefined. */
export function asPyLine(obj: Record<string, unknown>): PyLine | undefined {
  const t = (obj as { type?: unknown }).type;
  if (t === 'progress' && typeof (obj as { stage?: unknown }).stage === 'string') return obj as PyProgressLine;
  if (t === 'result') return obj as PyResultLine;
  if (t === 'error') {
    const e = obj as Partial<PyErrorLine>;
    return {
      ...e,
      type: 'error',
      code: String(e.code ?? 'unknown'),
      message: String(e.message ?? 'no message'),
    } as PyErrorLine;
  }
  return undefined;
}
