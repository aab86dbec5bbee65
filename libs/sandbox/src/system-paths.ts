import { execFile } from 'node:child_process';
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';

/** Drops paths that lie inside another one of the list (one bind covers them). */
export function outermost(paths: string[]): string[] {
  const sorted = [...new Set(paths.map((p) => path.normalize(p)))].sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const p of sorted) if (!out.some((o) => p === o || p.startsWith(`${o}/`))) out.push(p);
  return out.sort();
}

const realDir = (p: string): string | null => {
  try {
    const r = realpathSync(p);
    return statSync(r).isDirectory() ? r : null;
  } catch {
    return null;
  }
};

/** System folders every Linux sandbox already has (bound by the sandbox itself). */
const BASE_SYSTEM = /^\/(usr|lib|lib32|lib64|libx32|bin|sbin)(\/|$)/;

/**
 * Read-only paths a Python interpreter needs: its base installation, the venv, and every folder on
 * its sys.path (shared site-packages reached through a .pth file, the checkout's cvp_ml). Asked of
 * the interpreter itself, bounded in time.
 */
export function pythonSystemPaths(python: string, timeoutMs = 60_000): Promise<string[]> {
  const script =
    'import sys, os, json; print(json.dumps({"prefix": sys.prefix, "base": sys.base_prefix, ' +
    '"exe": os.path.realpath(sys.executable), "path": [p for p in sys.path if p]}))';
  return new Promise((resolve, reject) => {
    execFile(
      python,
      ['-c', script],
      { timeout: timeoutMs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, out) => {
        if (err) return reject(new Error(`cannot ask ${python} for its paths: ${err.message}`));
        let info: { prefix: string; base: string; exe: string; path: string[] };
        try {
          info = JSON.parse(String(out).trim().split('\n').at(-1) ?? '{}');
        } catch (e) {
          return reject(new Error(`${python} printed no path list: ${(e as Error).message}`));
        }
        const candidates = [info.prefix, info.base, path.dirname(info.exe), ...info.path, path.dirname(python)];
        const dirs = candidates.map(realDir).filter((p): p is string => !!p && !BASE_SYSTEM.test(p));
        // The venv folder itself holds the interpreter link the child is started through.
        const venv = realDir(path.dirname(path.dirname(python)));
        resolve(outermost([...dirs, ...(venv && !BASE_SYSTEM.test(venv) ? [venv] : [])]));
      },
    );
  });
}

/**
 * Read-only paths a Node.js child of the platform needs: the node installation (when it is not
 * under /usr) and the repository (compiled code, node_modules, scripts). The data dir is usually
 * inside the repository: the caller hides it (SandboxSpec.hide).
 */
export function nodeSystemPaths(repoRoot: string, nodeBinary = process.execPath): string[] {
  const node = realpathSync(nodeBinary);
  const prefix = path.dirname(path.dirname(node));
  const dirs = [realpathSync(repoRoot)];
  if (!BASE_SYSTEM.test(node)) dirs.push(prefix);
  return outermost(dirs);
}
