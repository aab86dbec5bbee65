import { PassThrough } from 'node:stream';
import type { BenchReport } from '@cvp/contracts';
import { CvpApiError, CvpNetworkError, CvpSessionExpiredError } from '@cvp/sdk';
import type { CliIo } from '../io';
import { colorEnabled } from '../io';
import { benchChart, chartRows } from './bench-chart';
import { describeError, printError } from './errors';
import { EXIT, exitForStatus } from './exit-codes';
import { bar, bytes, duration } from './format';
import { Printer } from './printer';

function io(env: Record<string, string> = {}, tty = false): CliIo & { out: () => string; errText: () => string } {
  let out = '';
  let err = '';
  const stdout = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = new PassThrough();
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  return {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env,
    cwd: '/',
    home: '/',
    interactive: false,
    out: () => out,
    errText: () => err,
  } as never;
}
const tick = () => new Promise((r) => setImmediate(r));

describe('output', () => {
  it('colour only on a terminal, never with NO_COLOR, TERM=dumb or --no-color', () => {
    expect(colorEnabled(io({}, true), true)).toBe(true);
    expect(colorEnabled(io({}, false), true)).toBe(false);
    expect(colorEnabled(io({ NO_COLOR: '' }, true), true)).toBe(false);
    expect(colorEnabled(io({ TERM: 'dumb' }, true), true)).toBe(false);
    expect(colorEnabled(io({}, true), false)).toBe(false);
    expect(colorEnabled(io({ FORCE_COLOR: '1' }, false), true)).toBe(true);
  });

  it('maps statuses and errors to the documented exit codes, with a hint', () => {
    expect([401, 403, 404, 409, 413, 422, 429, 503, 500].map(exitForStatus)).toEqual([3, 4, 5, 6, 7, 7, 8, 8, 1]);
    const res = new Response('{}', { status: 429, headers: { 'retry-after': '5' } });
    const busy = describeError(
      CvpApiError.from(res, { type: 'x', title: 'Too Many Requests', status: 429, detail: 'full' }),
      'infer',
    );
    expect(busy).toMatchObject({ exitCode: EXIT.busy, status: 429, retryAfterS: 5, hint: 'busy: retry in 5 s' });
    expect(describeError(new CvpNetworkError('http://x', 'ECONNREFUSED'), 'models').exitCode).toBe(EXIT.unreachable);
    expect(describeError(new CvpSessionExpiredError('gone'), 'models')).toMatchObject({
      exitCode: 3,
      hint: expect.stringMatching(/cvp login/),
    });
    expect(describeError(new Error('bug'), 'x')).toMatchObject({ exitCode: 1, title: 'Unexpected error' });
  });

  it('prints problems for people (field errors, hint) and as JSON on stderr with --json', async () => {
    const e = CvpApiError.from(new Response('', { status: 400 }), {
      type: 'urn:cvp:problem:bad-request',
      title: 'Bad Request',
      status: 400,
      detail: 'request failed validation',
      errors: [{ path: 'epochs', message: 'Number must be greater than or equal to 1' }],
    });
    const human = io();
    printError(new Printer(human, false, false), describeError(e, 'train'));
    await tick();
    expect(human.errText()).toBe(
      'error: Bad Request (400): request failed validation\n  - epochs: Number must be greater than or equal to 1\n',
    );
    const machine = io();
    printError(new Printer(machine, true, false), describeError(e, 'train'));
    await tick();
    expect(JSON.parse(machine.errText())).toEqual({
      error: expect.objectContaining({
        exitCode: 7,
        status: 400,
        errors: [{ path: 'epochs', message: expect.any(String) }],
      }),
    });
  });

  it('tables without borders, right-aligned numbers, no trailing spaces', async () => {
    const o = io();
    new Printer(o, false, false).table(
      [
        { n: 'a', v: 1 },
        { n: 'bbb', v: 200 },
      ],
      [
        { header: 'NAME', value: (r) => r.n },
        { header: 'VALUE', value: (r) => r.v, align: 'right' },
      ],
    );
    await tick();
    expect(o.out()).toBe('NAME  VALUE\na         1\nbbb     200\n');
  });

  it('formats durations, sizes and bars', () => {
    expect([duration(4_000), duration(95_000), duration(7_500_000)]).toEqual(['4s', '1m35s', '2h05m']);
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bar(0.5, 4, true)).toBe('##..');
  });

  it('charts p95 per selectable candidate, fastest first, marking the choice, the baseline and failures', () => {
    const cand = (id: string, p95Ms: number, selectable = true) => ({ id, selectable, latency: { p95Ms } });
    const report = {
      baselineId: 'base',
      candidates: [cand('base', 100), cand('fast', 40), cand('mid', 70), cand('b2', 10, false)],
      decision: {
        chosenId: 'mid',
        candidates: [
          { candidateId: 'base', feasible: true },
          { candidateId: 'fast', feasible: false },
          { candidateId: 'mid', feasible: true },
        ],
      },
    } as unknown as BenchReport;
    const lines = benchChart(chartRows(report), 40, true);
    expect(lines).toEqual([
      'x fast ########............    40.0 ms',
      '* mid  ##############......    70.0 ms',
      'B base ####################     100 ms',
    ]);
  });
});
