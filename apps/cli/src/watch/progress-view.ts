import React from 'react';
import type { Ink } from '../ink';
import { bar, duration, percent, shortId } from '../output/format';
import { progressDetail, type ProgressState } from './job-progress';

const h = React.createElement;
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export type WatchMode = 'watch' | 'confirm' | 'cancelling';

export interface ProgressViewProps {
  ink: Ink;
  state: ProgressState;
  mode: WatchMode;
  tick: number;
  note: string | null;
  keys: boolean;
  onKey: (input: string, key: { ctrl: boolean; escape: boolean; return: boolean }) => void;
}

const STATE_COLOR: Record<string, string> = {
  queued: 'yellow',
  running: 'cyan',
  succeeded: 'green',
  failed: 'red',
  cancelled: 'magenta',
};

/** The live view of one job: stage, bar with percent, epoch/trial/best, ETA, and the Ctrl-C question. */
export function ProgressView(props: ProgressViewProps) {
  const { ink, state: s, mode, tick } = props;
  const { Box, Text } = ink;
  ink.useInput((input, key) => props.onKey(input, key), { isActive: props.keys });
  const cols = ink.useStdout().stdout.columns || 80;
  const width = Math.max(10, Math.min(40, cols - 30));
  const done = ['succeeded', 'failed', 'cancelled'].includes(s.state);
  const icon = done ? (s.state === 'succeeded' ? '✔' : '✖') : SPINNER[tick % SPINNER.length];
  const detail = progressDetail(s);
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Text,
      null,
      h(Text, { color: STATE_COLOR[s.state] ?? 'white' }, icon),
      ' ',
      h(Text, { bold: true }, `${s.type} ${shortId(s.jobId)}`),
      '  ',
      h(Text, { color: STATE_COLOR[s.state] ?? 'white' }, s.state),
      s.stage ? h(Text, { dimColor: true }, `  ${s.stage}`) : null,
    ),
    h(
      Text,
      null,
      '  ',
      h(Text, { color: 'cyan' }, bar(s.progress, width)),
      ` ${percent(s.progress).padStart(4)}`,
      s.etaS !== null ? h(Text, { dimColor: true }, `  ETA ${duration(s.etaS * 1000)}`) : null,
    ),
    detail ? h(Text, null, `  ${detail}`) : null,
    s.error && s.state !== 'succeeded' ? h(Text, { color: 'red' }, `  ${s.error}`) : null,
    props.note ? h(Text, { color: 'yellow' }, `  ${props.note}`) : null,
    mode === 'confirm'
      ? h(
          Text,
          { color: 'yellow' },
          `  Cancel job ${shortId(s.jobId)}?  y = cancel it   n = stop watching (it keeps running)   Esc = keep watching`,
        )
      : null,
    !done && mode === 'watch' && props.keys ? h(Text, { dimColor: true }, '  Ctrl-C: cancel or stop watching') : null,
  );
}
