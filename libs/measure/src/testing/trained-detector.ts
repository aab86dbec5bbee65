/**
 * Test helper: a small YOLO detector with learned weights and its labelled data set, from
 * `python -m cvp_ml trained-detector` (cvp's generated shapes, trained by its own pipeline).
 * Accuracy tests need it: an untrained network's output barely depends on its input, so an INT8
 * variant of one "keeps" every accuracy figure by construction.
 *
 * Cached outside the repo (`$CVP_FIXTURE_CACHE`, else `~/.cache/cvp/fixtures/<recipe>-<key>/`),
 * keyed by the recipe, the generator's and trainer's code and the Ultralytics/torch versions: a
 * cold cache trains once (about a minute of CPU for `shapes-small`, several on a loaded 2-core
 * host), later calls return at once. Concurrent callers wait for one build. Not exported from the
 * library's index.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const PYTHON = path.join(REPO_ROOT, 'python/.venv/bin/python');

export interface TrainedDetector {
  /** ONNX export (dynamic batch and H/W; Ultralytics metadata with the class names). */
  onnx: string;
  /** best.pt of the training. */
  checkpoint: string;
  /** YOLO data set folder (data.yaml, images/{train,val}, labels/{train,val}); val is held out. */
  dataDir: string;
  dataYaml: string;
  imgsz: number;
  names: string[];
  /** Ultralytics' validation of the ONNX file on the held-out val split. */
  onnxVal: { map50: number; map50_95: number; precision: number; recall: number; images: number; instances: number };
  key: string;
  /** true when this call reused the cache */
  cached: boolean;
  /** the whole `{"type":"result",...}` line */
  result: Record<string, unknown>;
}

/** The CLI's result line (snake_case, as python writes it). */
interface ResultLine {
  type: string;
  message?: string;
  onnx: string;
  checkpoint: string;
  data_dir: string;
  data_yaml: string;
  imgsz: number;
  names: string[];
  onnx_val: TrainedDetector['onnxVal'];
  key: string;
  cached: boolean;
  [k: string]: unknown;
}

/**
 * Trains (or loads) the recipe's detector. Rejects (never skips) when the venv is missing or the
 * build fails; bounded by timeoutMs (default 30 min, a cold build on a heavily loaded host).
 */
export function trainedDetector(
  opts: { recipe?: 'shapes-small' | 'shapes-demo'; cacheDir?: string; timeoutMs?: number } = {},
): Promise<TrainedDetector> {
  if (!existsSync(PYTHON)) {
    return Promise.reject(
      new Error(
        `python venv missing at ${PYTHON}: run python/scripts/setup-venv.sh (the test bootstrap does); this test needs a trained detector from cvp_ml`,
      ),
    );
  }
  const args = ['-m', 'cvp_ml', 'trained-detector', '--recipe', opts.recipe ?? 'shapes-small'];
  if (opts.cacheDir) args.push('--cache-dir', opts.cacheDir);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'cvp-fixture-'));
  const proc = spawn(PYTHON, args, {
    cwd: path.join(REPO_ROOT, 'python'),
    // Ultralytics' settings and fonts go to a scratch data dir, never the repo's var/
    env: { ...process.env, CVP_DATA_DIR: scratch },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => proc.kill('SIGTERM'), timeoutMs);
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(scratch, { recursive: true, force: true });
      const last = out.trim().split('\n').pop() ?? '';
      let line: Partial<ResultLine> = {};
      try {
        line = JSON.parse(last) as Partial<ResultLine>;
      } catch {
        /* reported below */
      }
      if (code !== 0 || line.type !== 'result') {
        reject(
          new Error(
            `cvp_ml trained-detector failed (${signal ?? code}${signal ? `, timeout ${timeoutMs} ms?` : ''}): ${line.message ?? ''}\n${err}`,
          ),
        );
        return;
      }
      const r = line as ResultLine;
      resolve({
        onnx: r.onnx,
        checkpoint: r.checkpoint,
        dataDir: r.data_dir,
        dataYaml: r.data_yaml,
        imgsz: r.imgsz,
        names: r.names,
        onnxVal: r.onnx_val,
        key: r.key,
        cached: r.cached,
        result: r,
      });
    });
  });
}
