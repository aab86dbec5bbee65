'use strict';
/**
 * Runs `python -m cvp_ml <command>` for the scripts (the demo): stdout is JSON lines, the last one
 * the result or the error. Resolves with the result line; rejects with python's error message (or
 * the stderr tail) on an error line, a non-zero exit or the timeout.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

function pythonPath(env = process.env) {
  return path.resolve(ROOT, env.CVP_PYTHON || 'python/.venv/bin/python');
}

function cvpMl(command, args, { dataDir, timeoutMs = 10 * 60_000, onProgress } = {}) {
  const proc = spawn(pythonPath(), ['-m', 'cvp_ml', command, ...args.map(String)], {
    cwd: path.join(ROOT, 'python'),
    // Ultralytics' settings and fonts live under the data dir, as for the services' children
    env: { ...process.env, ...(dataDir ? { CVP_DATA_DIR: dataDir } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    let last = null;
    let stderr = '';
    const timer = setTimeout(() => proc.kill('SIGTERM'), timeoutMs);
    proc.stdout.on('data', (b) => {
      buf += b.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          last = JSON.parse(line);
        } catch {
          continue;
        }
        if (last.type === 'progress' && onProgress) onProgress(last);
      }
    });
    proc.stderr.on('data', (b) => (stderr = (stderr + b.toString()).slice(-2000)));
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && last && last.type === 'result') return resolve(last);
      const why = last && last.type === 'error' ? `${last.code}: ${last.message}` : stderr.trim().split('\n').pop();
      reject(
        new Error(`cvp_ml ${command} failed (${signal ? `${signal}, limit ${timeoutMs} ms` : `exit ${code}`}): ${why}`),
      );
    });
  });
}

module.exports = { cvpMl, pythonPath };
