import React, { useCallback, useEffect, useRef, useState } from 'react';
import type { CvpClient, Job, SimpleReport } from '@cvp/sdk';
import type { Ink } from '../ink';
import { benchChart, chartRows, type ChartRow } from '../output/bench-chart';
import { age, bar, duration, ms, percent, shortId } from '../output/format';
import { applyEvent, initialProgress, progressDetail, type ProgressState } from '../watch/job-progress';
import { type DashboardData, type DashboardPoller, emptyData, isActiveJob } from './dashboard-data';
import { clampSelection, initialUi, type Panel, reduceKey, type UiState } from './dashboard-state';

const h = React.createElement;
/** Running jobs whose event streams the dashboard follows at once (each holds one connection). */
const MAX_FOLLOWED = 5;

/** Pads or cuts to exactly `w` characters. */
export const fit = (s: unknown, w: number, right = false): string => {
  const t = s === null || s === undefined ? '-' : String(s);
  if (w <= 0) return '';
  if (t.length > w) return w > 1 ? `${t.slice(0, w - 1)}…` : t.slice(0, w);
  return right ? t.padStart(w) : t.padEnd(w);
};

/** Word-wraps text into lines of at most `w` characters (long words are cut). */
export function wrap(text: string, w: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > w) {
      out.push(line);
      line = '';
    }
    line = line ? `${line} ${word}` : word;
    while (line.length > w) {
      out.push(line.slice(0, w));
      line = line.slice(w);
    }
  }
  if (line || !out.length) out.push(line);
  return out;
}

interface Row {
  text: string;
  color?: string;
}

const STATE_COLOR: Record<string, string> = {
  queued: 'yellow',
  running: 'cyan',
  succeeded: 'green',
  failed: 'red',
  cancelled: 'magenta',
  ready: 'green',
  loading: 'yellow',
  selected: 'green',
  infeasible: 'red',
};

/** Table rows of each panel for a given inner width (pure; the view only lays them out). */
export function panelRows(
  data: DashboardData,
  panel: Panel,
  w: number,
  now = Date.now(),
  live: Map<string, ProgressState> = new Map(),
): { head: string; rows: Row[] } {
  switch (panel) {
    case 'jobs': {
      const fixed = 8 + 8 + 10 + 18 + 8 + 7 + 6;
      const stageW = Math.max(6, w - fixed);
      return {
        head: `${fit('ID', 8)} ${fit('TYPE', 7)} ${fit('STATE', 9)} ${fit('PROGRESS', 17)} ${fit('STAGE', stageW)} ${fit('MODEL', 8)} ${fit('AGE', 6, true)}`,
        rows: data.jobs.map((j: Job) => {
          // A followed job shows what only its events carry: epoch n/m, trial n/m with the best, ETA.
          const s = live.get(j.id);
          const progress = s && s.lastSeq > 0 ? s.progress : j.progress;
          const detail = s
            ? [progressDetail(s), s.etaS !== null ? `ETA ${duration(s.etaS * 1000)}` : ''].filter(Boolean).join(' · ')
            : '';
          const stage = detail || (s?.stage ?? j.stage);
          return {
            text: `${fit(shortId(j.id), 8)} ${fit(j.type, 7)} ${fit(j.state, 9)} ${bar(progress, 12)} ${fit(percent(progress), 4, true)} ${fit(stage, stageW)} ${fit(shortId((j.input as { modelId?: string }).modelId), 8)} ${fit(age(j.createdAt, now), 6, true)}`,
            color: STATE_COLOR[j.state],
          };
        }),
      };
    }
    case 'leases': {
      const l = data.leases;
      const holderW = Math.max(8, w - 30);
      const rows: Row[] = (l?.holders ?? []).map((x) => ({
        text: `${fit(x.holder, holderW)} ${fit(x.priority, 9)} ${fit(duration(x.ageMs), 8, true)} ${fit(duration(x.expiresInMs), 8, true)}`,
        color: 'cyan',
      }));
      for (const x of l?.waiters ?? [])
        rows.push({
          text: `${fit(`#${x.position} ${x.holder}`, holderW)} ${fit(x.priority, 9)} ${fit(`wait ${duration(x.waitingMs)}`, 17, true)}`,
          color: 'yellow',
        });
      return {
        head: `${fit('HOLDER', holderW)} ${fit('PRIORITY', 9)} ${fit('HELD', 8, true)} ${fit('EXPIRES', 8, true)}`,
        rows,
      };
    }
    case 'deployments': {
      const engW = Math.max(8, w - 8 - 8 - 7 - 9 - 6 - 5);
      return {
        head: `${fit('MODEL', 8)} ${fit('ENGINE', engW)} ${fit('STATE', 7)} ${fit('REQ/S', 6, true)} ${fit('P95', 9, true)} ${fit('429s', 5, true)}`,
        rows: data.deployments.map((d) => {
          const t = data.traffic.get(d.modelId);
          const engine = `${d.engine}/${d.options.precision}${d.requestedEngine === 'selected' ? '*' : ''}`;
          return {
            text: `${fit(shortId(d.modelId), 8)} ${fit(engine, engW)} ${fit(d.state, 7)} ${fit(t?.requestsPerS?.toFixed(1), 6, true)} ${fit(t?.p95Ms !== null && t?.p95Ms !== undefined ? ms(t.p95Ms) : null, 9, true)} ${fit(t ? t.rejectedTotal : null, 5, true)}`,
            color: STATE_COLOR[d.state],
          };
        }),
      };
    }
    case 'models': {
      const nameW = Math.max(8, w - 8 - 9 - 4 - 5 - 8 - 5);
      return {
        head: `${fit('ID', 8)} ${fit('NAME', nameW)} ${fit('TASK', 8)} ${fit('VER', 3, true)} ${fit('ONNX', 4)} ${fit('TRAINED', 7)}`,
        rows: data.models.map((m) => ({
          text: `${fit(shortId(m.id), 8)} ${fit(m.name, nameW)} ${fit(m.task, 8)} ${fit(m.latestVersion, 3, true)} ${fit(m.sha256 ? 'yes' : 'no', 4)} ${fit(m.trained ? 'yes' : 'no', 7)}`,
        })),
      };
    }
    case 'benchmarks': {
      const chosenW = Math.max(8, w - 12 - 9 - 11 - 10 - 4);
      return {
        head: `${fit('ID', 12)} ${fit('MODEL', 8)} ${fit('STATUS', 10)} ${fit('CHOSEN', chosenW)} ${fit('P50', 10, true)}`,
        rows: data.benchmarks.map((b) => ({
          text: `${fit(b.id, 12)} ${fit(shortId(b.modelId), 8)} ${fit(b.status, 10)} ${fit(b.selectedId, chosenW)} ${fit(ms(b.selectedP50Ms), 10, true)}`,
          color: STATE_COLOR[b.status],
        })),
      };
    }
  }
}

function panelTitle(data: DashboardData, panel: Panel): string {
  switch (panel) {
    case 'jobs': {
      const live = data.jobs.filter(isActiveJob).length;
      return `Jobs · ${live} live`;
    }
    case 'leases':
      return data.leases
        ? `GPU leases · ${data.leases.inUse}/${data.leases.pools.reduce((n, p) => n + p.tokens, 0)} tokens in use on ${data.leases.pools.length} node(s) · ${data.leases.waiters.length} waiting`
        : 'GPU leases';
    case 'deployments':
      return 'Deployments · traffic from the data plane';
    case 'models':
      return 'Models';
    case 'benchmarks':
      return 'Benchmarks · Enter: verdict';
  }
}

interface PanelProps {
  ink: Ink;
  title: string;
  focused: boolean;
  width: number;
  height: number;
  head: string;
  rows: Row[];
  selected: number;
  empty: string;
}

function PanelBox(p: PanelProps) {
  const { Box, Text } = p.ink;
  const inner = Math.max(0, p.height - 3); // border top/bottom + header
  const start = Math.max(0, Math.min(p.selected - inner + 1, p.rows.length - inner));
  const visible = p.rows.slice(start, start + inner);
  const w = Math.max(1, p.width - 4);
  return h(
    Box,
    {
      flexDirection: 'column',
      width: p.width,
      height: p.height,
      borderStyle: 'round',
      borderColor: p.focused ? 'cyan' : 'gray',
      paddingX: 1,
    },
    h(Text, { bold: true, color: p.focused ? 'cyan' : undefined, wrap: 'truncate' }, fit(p.title, w)),
    p.rows.length
      ? [
          h(Text, { key: 'head', dimColor: true, wrap: 'truncate' }, fit(p.head, w)),
          ...visible.map((r, i) =>
            h(
              Text,
              {
                key: String(start + i),
                color: r.color,
                inverse: p.focused && start + i === p.selected,
                wrap: 'truncate',
              },
              fit(r.text, w),
            ),
          ),
        ]
      : h(Text, { dimColor: true, wrap: 'truncate' }, fit(p.empty, w)),
  );
}

const HELP = [
  'Tab / Shift-Tab, ← →   focus the next / previous panel',
  '↑ ↓  (k j)            select a row',
  'Enter                 job: live progress · benchmark: verdict and chart',
  'c                     cancel the selected job (asks first)',
  'u                     undeploy the selected deployment',
  'r                     refresh now',
  'Esc                   close this view',
  'q / Ctrl-C            quit (the terminal is restored)',
];

export interface DashboardProps {
  ink: Ink;
  client: CvpClient;
  poller: DashboardPoller;
  intervalMs: number;
  url: string;
  who: string;
}

/** The full-screen dashboard. */
export function Dashboard(props: DashboardProps) {
  const { ink, client, poller } = props;
  const { Box, Text } = ink;
  const app = ink.useApp();
  const { stdout } = ink.useStdout();
  const [size, setSize] = useState({ cols: stdout.columns || 100, rows: stdout.rows || 30 });
  const [data, setData] = useState<DashboardData>(emptyData());
  const [ui, setUi] = useState<UiState>(initialUi());
  const [jobView, setJobView] = useState<ProgressState | null>(null);
  const [benchView, setBenchView] = useState<{ simple: SimpleReport; rows: ChartRow[] } | string | null>(null);
  const polling = useRef(false);
  const [live, setLive] = useState<Map<string, ProgressState>>(new Map());
  const followed = useRef(new Map<string, AbortController>());

  useEffect(() => {
    const onResize = () => setSize({ cols: stdout.columns || 100, rows: stdout.rows || 30 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);

  const refresh = useCallback(async () => {
    if (polling.current) return;
    polling.current = true;
    try {
      const d = await poller.poll();
      setData(d);
      setUi((u) => clampSelection(u, d));
    } finally {
      polling.current = false;
    }
  }, [poller]);

  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const loop = () => {
      void refresh().finally(() => {
        if (!stopped) timer = setTimeout(loop, props.intervalMs);
      });
    };
    loop();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [refresh, props.intervalMs]);

  // Running jobs (at most MAX_FOLLOWED) follow their SSE streams, for epoch/trial/ETA in the table.
  useEffect(() => {
    const running = data.jobs.filter((j) => j.state === 'running').slice(0, MAX_FOLLOWED);
    const keep = new Set(running.map((j) => j.id));
    for (const [id, ac] of followed.current)
      if (!keep.has(id)) {
        ac.abort();
        followed.current.delete(id);
      }
    for (const j of running) {
      if (followed.current.has(j.id)) continue;
      const ac = new AbortController();
      followed.current.set(j.id, ac);
      void (async () => {
        let s = initialProgress(j);
        for await (const e of client.jobs.events(j.id, { signal: ac.signal })) {
          s = applyEvent(s, e);
          const snapshot = s;
          setLive((m) => new Map(m).set(j.id, snapshot));
        }
      })().catch(() => undefined);
    }
  }, [data, client]);
  useEffect(() => () => followed.current.forEach((ac) => ac.abort()), []);

  // The open job follows its own SSE stream: epoch/trial/best and ETA arrive only as events.
  const jobId = ui.overlay?.kind === 'job' ? ui.overlay.id : null;
  useEffect(() => {
    setJobView(null);
    if (!jobId) return;
    const ac = new AbortController();
    void (async () => {
      let s = initialProgress(await client.jobs.get(jobId));
      setJobView(s);
      for await (const e of client.jobs.events(jobId, { signal: ac.signal })) {
        s = applyEvent(s, e);
        setJobView(s);
      }
    })().catch(() => undefined);
    return () => ac.abort();
  }, [jobId, client]);

  const benchId = ui.overlay?.kind === 'benchmark' ? ui.overlay.id : null;
  useEffect(() => {
    setBenchView(null);
    if (!benchId) return;
    void Promise.all([client.benchmarks.simple(benchId), client.benchmarks.technical(benchId)])
      .then(([simple, report]) => setBenchView({ simple, rows: chartRows(report) }))
      .catch((e: Error) => setBenchView(`cannot read the report: ${e.message}`));
  }, [benchId, client]);

  ink.useInput((input, key) => {
    const r = reduceKey(ui, data, input, key);
    setUi(r.ui);
    const a = r.action;
    if (!a) return;
    if (a.kind === 'quit') app.exit();
    else if (a.kind === 'refresh') void refresh().then(() => setUi((u) => ({ ...u, message: null })));
    else if (a.kind === 'cancel-job')
      client.jobs
        .cancel(a.id)
        .then((j) => setUi((u) => ({ ...u, message: `job ${shortId(j.id)} ${j.state}` })))
        .catch((e: Error) => setUi((u) => ({ ...u, message: `cancel failed: ${e.message}` })))
        .finally(() => void refresh());
    else if (a.kind === 'undeploy')
      client.deployments
        .remove(a.id)
        .then((d) => setUi((u) => ({ ...u, message: `deployment ${d.id} ${d.state}` })))
        .catch((e: Error) => setUi((u) => ({ ...u, message: `undeploy failed: ${e.message}` })))
        .finally(() => void refresh());
  });

  const { cols, rows } = size;
  if (cols < 60 || rows < 18)
    return h(Text, { color: 'yellow' }, `terminal too small (${cols}x${rows}); cvp tui needs 60x18 — q quits`);

  const bodyH = rows - 4; // header, message and keys lines, one spare against scrolling
  const header = h(
    Text,
    { wrap: 'truncate' },
    h(Text, { bold: true, color: 'cyan' }, 'cvp dashboard'),
    h(Text, { dimColor: true }, ` · ${props.url} · ${props.who} · `),
    data.at ? `updated ${new Date(data.at).toLocaleTimeString('en-GB')}` : 'loading…',
    data.errors.length ? h(Text, { color: 'red' }, ` · ${data.errors[0]}`) : null,
  );
  const footer = h(
    Box,
    { flexDirection: 'column' },
    h(Text, { color: 'yellow', wrap: 'truncate' }, fit(ui.message ?? '', cols - 1)),
    h(
      Text,
      { dimColor: true, wrap: 'truncate' },
      fit('Tab panel · ↑↓ select · Enter details · c cancel job · u undeploy · r refresh · ? help · q quit', cols - 1),
    ),
  );

  let body: React.ReactNode;
  const o = ui.overlay;
  if (o) {
    const lines: Row[] = [];
    let title = '';
    if (o.kind === 'help') {
      title = 'Keys';
      lines.push(...HELP.map((t) => ({ text: t })));
    } else if (o.kind === 'confirm-cancel') {
      const j = data.jobs.find((x) => x.id === o.id);
      title = 'Cancel job?';
      lines.push(
        { text: `Cancel ${j?.type ?? 'job'} ${o.id} (${j?.state ?? '?'}, ${percent(j?.progress)})?`, color: 'yellow' },
        { text: 'Its processes stop and its GPU lease is released.' },
        { text: '' },
        { text: 'y = cancel it    n / Esc = keep it running' },
      );
    } else if (o.kind === 'job') {
      const s = jobView;
      title = `Job ${o.id}`;
      if (!s) lines.push({ text: 'loading…' });
      else {
        lines.push(
          { text: `${s.type}  ${s.state}  ${s.stage ?? ''}`, color: STATE_COLOR[s.state] },
          {
            text: `${bar(s.progress, Math.max(10, Math.min(50, cols - 30)))} ${percent(s.progress)}${s.etaS !== null ? `  ETA ${duration(s.etaS * 1000)}` : ''}`,
            color: 'cyan',
          },
        );
        const d = progressDetail(s);
        if (d) lines.push({ text: d });
        if (s.error) lines.push({ text: s.error, color: 'red' });
        if (s.result) lines.push({ text: `result: ${JSON.stringify(s.result)}` });
        lines.push(
          { text: '' },
          { text: isActiveJob({ state: s.state } as Job) ? 'c cancel · Esc close' : 'Esc close' },
        );
      }
    } else {
      title = `Benchmark ${o.id}`;
      const v = benchView;
      if (!v) lines.push({ text: 'loading…' });
      else if (typeof v === 'string') lines.push({ text: v, color: 'red' });
      else {
        const para = (t: string, color?: string) => wrap(t, cols - 4).map((text) => ({ text, color }));
        lines.push(
          ...para(v.simple.headline, v.simple.status === 'selected' ? 'green' : 'yellow'),
          {
            text: `chosen ${v.simple.chosen ?? 'none'} · p50 ${ms(v.simple.chosenP50Ms)} vs baseline ${ms(v.simple.baselineP50Ms)}${v.simple.speedup ? ` · ${v.simple.speedup.toFixed(2)}x` : ''}`,
          },
          ...para(`accuracy: ${v.simple.accuracyImpact}`),
          ...para(v.simple.recommendation),
          { text: '' },
          { text: 'p95 per candidate (★ chosen, B baseline, ✗ fails a constraint)', color: 'gray' },
          ...benchChart(v.rows, cols - 6).map((t) => ({ text: t })),
        );
      }
    }
    body = h(
      Box,
      { flexDirection: 'column', width: cols, height: bodyH, borderStyle: 'round', borderColor: 'cyan', paddingX: 1 },
      h(Text, { bold: true, color: 'cyan' }, fit(title, cols - 4)),
      ...lines
        .slice(0, bodyH - 3)
        .map((l, i) => h(Text, { key: String(i), color: l.color, wrap: 'truncate' }, fit(l.text, cols - 4))),
    );
  } else {
    const jobsH = Math.max(6, Math.floor(bodyH * 0.4));
    const rowH = Math.floor((bodyH - jobsH) / 2);
    const lastH = bodyH - jobsH - rowH;
    const half = Math.floor(cols / 2);
    const panel = (name: Panel, width: number, height: number, empty: string) => {
      const { head, rows: r } = panelRows(data, name, width - 4, Date.now(), live);
      return h(PanelBox, {
        key: name,
        ink,
        title: panelTitle(data, name),
        focused: ui.panel === name,
        width,
        height,
        head,
        rows: r,
        selected: ui.selected[name],
        empty,
      });
    };
    body = h(
      Box,
      { flexDirection: 'column' },
      panel('jobs', cols, jobsH, data.at ? 'no jobs' : 'loading…'),
      h(
        Box,
        null,
        panel('leases', half, rowH, 'no lease held'),
        panel('deployments', cols - half, rowH, 'nothing deployed'),
      ),
      h(Box, null, panel('models', half, lastH, 'no models'), panel('benchmarks', cols - half, lastH, 'no benchmarks')),
    );
  }
  return h(Box, { flexDirection: 'column', width: cols }, header, body, footer);
}
