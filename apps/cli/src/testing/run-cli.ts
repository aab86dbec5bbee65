import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { CliIo } from '../io';
import { main } from '../main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = unknown>(): T;
  /** stderr's JSON error report (for failing --json runs). */
  error(): { exitCode: number; status?: number; title: string; detail?: string; hint?: string };
}

/** A capturing stream standing in for stdout/stderr (not a terminal: no colour, no Ink). */
class Capture extends PassThrough {
  text = '';
  isTTY = false;
  columns = 120;
  constructor() {
    super();
    this.setEncoding('utf8');
    this.on('data', (c: string) => (this.text += c));
  }
}

/** A config dir of its own per test file, so sessions never leak between suites. */
export function scratchConfigDir(name: string): string {
  return mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? '/tmp', `cli-${name}-`));
}

/** Runs `cvp ...argv` in this process, as the shell would, and captures what it prints. */
export async function runCli(
  argv: string[],
  opts: { env?: Record<string, string | undefined>; stdin?: string; cwd?: string } = {},
): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = {
    stdout,
    stderr,
    stdin: Readable.from(opts.stdin !== undefined ? [opts.stdin] : []) as CliIo['stdin'],
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    home: process.env.CVP_TEST_DIR ?? '/tmp',
    interactive: false,
  };
  const code = await main(argv, io);
  await new Promise((r) => setImmediate(r));
  return {
    code,
    stdout: stdout.text,
    stderr: stderr.text,
    json: <T>() => JSON.parse(stdout.text) as T,
    error: () => (JSON.parse(stderr.text.trim().split('\n').pop()!) as { error: ReturnType<CliRun['error']> }).error,
  };
}
