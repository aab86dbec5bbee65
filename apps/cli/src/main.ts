import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CommanderError } from 'commander';
import { type Registry } from './commands/command';
import { CliContext } from './context';
import { type CliIo, processIo } from './io';
import { describeError, printError } from './output/errors';
import { EXIT } from './output/exit-codes';
import { buildProgram } from './program';

/** The repository's version: the nearest package.json above this file (source or dist/). */
function repoVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
}
export const VERSION = repoVersion();

/** Runs one `cvp` command line; resolves with its exit code (never exits the process itself). */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const json = argv.includes('--json');
  const reg: Registry = { io, version: VERSION, code: EXIT.ok, current: '', json };
  const program = buildProgram(reg);
  if (!argv.length) {
    program.outputHelp();
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return reg.code;
  } catch (e) {
    if (e instanceof CommanderError && (e.exitCode === 0 || e.code === 'commander.helpDisplayed')) return EXIT.ok;
    // Commander printed its own usage message, except in --json mode.
    if (e instanceof CommanderError && !json) return EXIT.usage;
    const color = !argv.includes('--no-color');
    const ctx = new CliContext(io, { json, color }, VERSION);
    const report = describeError(e, reg.current);
    printError(ctx.printer, report);
    return report.exitCode;
  }
}
