import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../../support/processes';

export const CVP_BIN = path.join(ROOT, 'apps/cli/bin/cvp.js');

export interface CvpRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
  /** The JSON error report a failing --json run writes to stderr. */
  error(): { exitCode: number; status?: number; title: string; detail?: string; hint?: string };
}

/** Runs the installed `cvp` command as its own process (no terminal), bounded by timeoutMs. */
export function runCvp(
  args: string[],
  opts: { env: Record<string, string>; stdin?: string; cwd?: string; timeoutMs?: number },
): Promise<CvpRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CVP_BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const limit = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cvp ${args.join(' ')} ran over ${limit} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, limit);
    child.stdin.end(opts.stdin ?? '');
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        json: <T>() => JSON.parse(stdout) as T,
        error: () => (JSON.parse(stderr.trim().split('\n').pop()!) as { error: ReturnType<CvpRun['error']> }).error,
      });
    });
  });
}
