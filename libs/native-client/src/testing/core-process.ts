/**
 * Test helper: the real native/build/cvp-core in a child process on a free port (it picks one with
 * --port 0 and reports it in its first log line). Not exported from the library's index.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const CORE_BIN = path.resolve(__dirname, '../../../../native/build/cvp-core');

export interface CoreProcess {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  logs: string[];
  exited: Promise<number | null>;
}

export function startCore(args: string[] = []): Promise<CoreProcess> {
  if (!existsSync(CORE_BIN)) throw new Error(`${CORE_BIN} is missing: run native/scripts/build.sh`);
  const proc = spawn(CORE_BIN, ['--port', '0', '--log-level', 'debug', '--drain-timeout-ms', '5000', ...args]);
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('cvp-core did not report a port within 20 s:\n' + logs.join('\n')));
    }, 20000);
    let buf = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg === 'listening' && j.port) {
            clearTimeout(timer);
            resolve({ proc, port: j.port, logs, exited });
          }
        } catch {
          /* non-JSON output is kept in logs for the failure message */
        }
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cvp-core exited early (${code}):\n${logs.join('\n')}`));
    });
  });
}

/** SIGKILL (when still running) and wait for the exit. */
export async function killCore(core: CoreProcess | undefined): Promise<void> {
  if (!core || core.proc.exitCode !== null || core.proc.signalCode !== null) return;
  core.proc.kill('SIGKILL');
  await core.exited;
}
