/**
 * Test helper: a real ONNX model exported by the python side (`python -m cvp_ml preset`, an
 * untrained architecture, nothing downloaded). Not exported from the library's index.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const PYTHON = path.join(REPO_ROOT, 'python/.venv/bin/python');

export interface PresetExport {
  /** the exported ONNX file (the `onnx` field of the CLI's result line) */
  onnx: string;
  imgsz: number;
  task: string;
  /** the whole `{"type":"result",...}` line */
  result: Record<string, unknown>;
}

/**
 * Runs `cvp_ml preset --name <name> --out <outDir> [--imgsz N] --seed S` and returns what its JSON
 * result line says. Throws (never skips) when the venv is missing: the bootstrap creates it
 * (python/scripts/setup-venv.sh) before any test runs.
 */
export function exportPythonPreset(
  name: string,
  outDir: string,
  opts: { imgsz?: number; seed?: number; timeoutMs?: number } = {},
): Promise<PresetExport> {
  if (!existsSync(PYTHON)) {
    return Promise.reject(
      new Error(
        `python venv missing at ${PYTHON}: run python/scripts/setup-venv.sh (the test bootstrap does); this test needs a real ONNX model exported by cvp_ml`,
      ),
    );
  }
  mkdirSync(outDir, { recursive: true });
  const args = ['-m', 'cvp_ml', 'preset', '--name', name, '--out', outDir, '--seed', String(opts.seed ?? 0)];
  if (opts.imgsz) args.push('--imgsz', String(opts.imgsz));
  const proc = spawn(PYTHON, args, {
    cwd: path.join(REPO_ROOT, 'python'),
    env: {
      ...process.env,
      YOLO_OFFLINE: 'true',
      YOLO_AUTOINSTALL: 'false',
      YOLO_CONFIG_DIR: path.join(outDir, '.yolo'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const timeoutMs = opts.timeoutMs ?? 240_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      // stdout carries only wire-format JSON lines (progress..., then one result or error)
      const lines = stdout.split('\n').flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
      const result = lines.find((l) => l.type === 'result');
      const failure = `cvp_ml preset ${name} failed (exit ${code ?? signal}${signal === 'SIGKILL' ? `, killed after ${timeoutMs} ms` : ''})`;
      if (code !== 0 || !result)
        return reject(
          new Error(`${failure}: ${JSON.stringify(lines.find((l) => l.type === 'error') ?? null)}\n${stderr}`),
        );
      const onnx = String(result.onnx);
      if (!existsSync(onnx)) return reject(new Error(`${failure}: result names ${onnx}, which does not exist`));
      resolve({ onnx, imgsz: Number(result.imgsz), task: String(result.task), result });
    });
  });
}
