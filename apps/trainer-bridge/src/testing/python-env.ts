import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');

/**
 * The venv python the handler tests run. Missing venv = a failed suite with the fix, never a
 * silent skip: these tests are the proof that the TypeScript side drives the real python.
 */
export function requirePython(): string {
  const py = process.env.CVP_PYTHON
    ? path.resolve(REPO_ROOT, process.env.CVP_PYTHON)
    : path.join(REPO_ROOT, 'python/.venv/bin/python');
  if (!existsSync(py)) {
    throw new Error(
      `trainer-bridge tests need the python venv at ${py}; create it with: bash python/scripts/setup-venv.sh (or npm test, whose bootstrap does)`,
    );
  }
  return py;
}
