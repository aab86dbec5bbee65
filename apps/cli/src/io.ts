import os from 'node:os';

/** A stream the CLI writes to, with what it knows about the terminal behind it. */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/** Everything the CLI touches of its process, so commands run the same in tests and in a shell. */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** Ink needs the real process streams; tests run the non-interactive paths only. */
  interactive: boolean;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    home: os.homedir(),
    interactive: true,
  };
}

/** Colour only for a terminal, never with NO_COLOR (https://no-color.org), TERM=dumb or --no-color. */
export function colorEnabled(io: CliIo, flag: boolean): boolean {
  if (!flag || io.env.NO_COLOR !== undefined || io.env.TERM === 'dumb') return false;
  if (io.env.FORCE_COLOR && io.env.FORCE_COLOR !== '0') return true;
  return !!io.stdout.isTTY;
}
