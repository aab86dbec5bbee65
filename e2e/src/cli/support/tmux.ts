import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export const tmuxAvailable = () => spawnSync('tmux', ['-V']).status === 0;

interface Frame {
  t: number;
  screen: string;
}

/**
 * A real terminal: a detached tmux session on a private server socket, driven with send-keys and
 * read with capture-pane. Captures can be kept as frames and written as an asciicast v2 file.
 */
export class TmuxSession {
  private readonly frames: Frame[] = [];
  private readonly t0 = Date.now();

  private constructor(
    private readonly socket: string,
    private readonly name: string,
    private cols: number,
    private rows: number,
  ) {}

  static start(name: string, env: Record<string, string>, cols = 120, rows = 36, cwd = process.cwd()): TmuxSession {
    const s = new TmuxSession(`cvp-e2e-${process.pid}-${name}`, name, cols, rows);
    const exports = Object.entries(env)
      .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}';`)
      .join(' ');
    s.tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      String(cols),
      '-y',
      String(rows),
      '-c',
      cwd,
      'bash --norc --noprofile',
    );
    s.tmux('set-option', '-t', name, 'status', 'off');
    s.send(`${exports} export PS1='$ ' TERM=xterm-256color; clear`, 'Enter');
    return s;
  }

  private tmux(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`tmux ${args[0]} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Keys as tmux names them: literal text, Enter, Escape, C-c, Tab, Down... */
  send(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.name, ...keys);
  }

  /** The screen as text (with colours when asked, for recordings). */
  capture(escapes = false): string {
    return this.tmux('capture-pane', '-t', this.name, '-p', ...(escapes ? ['-e'] : []));
  }

  /** A tmux format of the pane, e.g. #{alternate_on} or #{cursor_flag}. */
  display(format: string): string {
    return this.tmux('display-message', '-t', this.name, '-p', format).trim();
  }

  /** Polls the screen (every 250 ms, keeping frames for a recording) until it matches; bounded. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    for (;;) {
      screen = this.record();
      if (re.test(screen)) return screen;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${re} on the terminal:\n${screen}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Captures one frame for the recording and returns the plain text of the screen. */
  record(): string {
    const coloured = this.capture(true);
    const last = this.frames[this.frames.length - 1];
    if (!last || last.screen !== coloured) this.frames.push({ t: (Date.now() - this.t0) / 1000, screen: coloured });
    return this.capture(false);
  }

  /** asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): one full redraw per captured frame. */
  writeCast(file: string, title: string, from = 0): void {
    const frames = this.frames.filter((f) => f.t >= from);
    const start = frames[0]?.t ?? 0;
    const header = {
      version: 2,
      width: this.cols,
      height: this.rows,
      timestamp: Math.floor(this.t0 / 1000),
      title,
      env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
    };
    const lines = [JSON.stringify(header)];
    for (const f of frames) {
      const body = f.screen.replace(/\n$/, '').split('\n').join('\r\n');
      lines.push(JSON.stringify([Number((f.t - start).toFixed(3)), 'o', `\x1b[H\x1b[2J${body}`]));
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
  }

  /** Resizes the terminal (the program gets SIGWINCH). The recording keeps the first size. */
  resize(cols: number, rows: number): void {
    this.tmux('resize-window', '-t', this.name, '-x', String(cols), '-y', String(rows));
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server'], { timeout: 10_000 });
  }
}
