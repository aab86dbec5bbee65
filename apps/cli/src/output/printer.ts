import Table from 'cli-table3';
import { createColors } from 'picocolors';
import type { CliIo } from '../io';

export type Colors = ReturnType<typeof createColors>;

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
  align?: 'left' | 'right';
  /** Colour of a cell (only applied when colour is on). */
  color?: (text: string, row: T, c: Colors) => string;
}

const BORDERLESS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

/**
 * All output of a command goes through here: human text (tables without borders, key-value
 * blocks, colour only when enabled) or, with --json, one JSON value on stdout. Diagnostics go to
 * stderr so stdout stays parseable.
 */
export class Printer {
  readonly c: Colors;

  constructor(
    private readonly io: CliIo,
    readonly json: boolean,
    readonly color: boolean,
  ) {
    this.c = createColors(color);
  }

  out(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  err(text = ''): void {
    this.io.stderr.write(`${text}\n`);
  }

  /** Progress notes for people: stderr, and nothing in --json mode. */
  note(text: string): void {
    if (!this.json) this.err(this.c.dim(text));
  }

  printJson(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /** The value as JSON with --json, else what `human` prints. */
  result<T>(value: T, human: (v: T) => void): void {
    if (this.json) this.printJson(value);
    else human(value);
  }

  table<T>(rows: T[], columns: Column<T>[], empty = 'nothing to show'): void {
    if (!rows.length) {
      this.out(this.c.dim(empty));
      return;
    }
    const t = new Table({
      head: columns.map((c) => this.c.bold(c.header)),
      chars: BORDERLESS,
      style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
      colAligns: columns.map((c) => c.align ?? 'left'),
    });
    for (const r of rows)
      t.push(
        columns.map((c) => {
          const v = c.value(r);
          const text = v === null || v === undefined || v === '' ? '-' : String(v);
          return c.color && this.color ? c.color(text, r, this.c) : text;
        }),
      );
    this.out(t.toString().replace(/[ \t]+$/gm, ''));
  }

  /** Aligned "name  value" lines. */
  fields(pairs: [string, string | number | boolean | null | undefined][]): void {
    const w = Math.max(...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs)
      this.out(`${this.c.dim(k.padEnd(w))}  ${v === null || v === undefined || v === '' ? '-' : String(v)}`);
  }

  heading(text: string): void {
    this.out(this.c.bold(text));
  }
}
