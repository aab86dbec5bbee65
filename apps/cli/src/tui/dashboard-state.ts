import type { DashboardData } from './dashboard-data';
import { isActiveJob } from './dashboard-data';

export const PANELS = ['jobs', 'leases', 'deployments', 'models', 'benchmarks'] as const;
export type Panel = (typeof PANELS)[number];

export type Overlay =
  | { kind: 'help' }
  | { kind: 'job'; id: string }
  | { kind: 'benchmark'; id: string }
  | { kind: 'confirm-cancel'; id: string };

/** Where the user is: focused panel, selected row per panel, an open overlay, a status message. */
export interface UiState {
  panel: Panel;
  selected: Record<Panel, number>;
  overlay: Overlay | null;
  message: string | null;
}

export type UiAction =
  { kind: 'quit' } | { kind: 'refresh' } | { kind: 'cancel-job'; id: string } | { kind: 'undeploy'; id: string };

export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  tab?: boolean;
  shift?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
}

export const initialUi = (): UiState => ({
  panel: 'jobs',
  selected: { jobs: 0, leases: 0, deployments: 0, models: 0, benchmarks: 0 },
  overlay: null,
  message: null,
});

export function rowsOf(data: DashboardData, panel: Panel): number {
  switch (panel) {
    case 'jobs':
      return data.jobs.length;
    case 'leases':
      return (data.leases?.holders.length ?? 0) + (data.leases?.waiters.length ?? 0);
    case 'deployments':
      return data.deployments.length;
    case 'models':
      return data.models.length;
    case 'benchmarks':
      return data.benchmarks.length;
  }
}

/** Keeps every selection inside its list after a refresh shrank it. */
export function clampSelection(ui: UiState, data: DashboardData): UiState {
  const selected = { ...ui.selected };
  for (const p of PANELS) selected[p] = Math.max(0, Math.min(selected[p], rowsOf(data, p) - 1));
  return { ...ui, selected };
}

/**
 * The dashboard's keys (pure): Tab/Shift-Tab or ←/→ panel, ↑/↓ or k/j row, Enter details,
 * c cancel the selected job (asks y/n), u undeploy the selected deployment, r refresh, ? help,
 * Esc close, q or Ctrl-C quit.
 */
export function reduceKey(
  ui: UiState,
  data: DashboardData,
  input: string,
  key: KeyInfo,
): { ui: UiState; action?: UiAction } {
  if ((key.ctrl && input === 'c') || (input === 'q' && ui.overlay?.kind !== 'confirm-cancel'))
    return { ui, action: { kind: 'quit' } };
  if (ui.overlay?.kind === 'confirm-cancel') {
    if (/^y$/i.test(input))
      return {
        ui: { ...ui, overlay: null, message: `cancelling job ${ui.overlay.id.slice(0, 8)}…` },
        action: { kind: 'cancel-job', id: ui.overlay.id },
      };
    if (/^n$/i.test(input) || key.escape) return { ui: { ...ui, overlay: null, message: 'not cancelled' } };
    return { ui };
  }
  if (ui.overlay) {
    if (key.escape || key.return || input === '?') return { ui: { ...ui, overlay: null } };
    if (input === 'c' && ui.overlay.kind === 'job') return cancelAsk(ui, data, ui.overlay.id);
    return { ui };
  }
  const move = (d: number) => {
    const n = rowsOf(data, ui.panel);
    const at = Math.max(0, Math.min(n - 1, ui.selected[ui.panel] + d));
    return { ui: { ...ui, selected: { ...ui.selected, [ui.panel]: at } } };
  };
  const cycle = (d: number) => {
    const i = (PANELS.indexOf(ui.panel) + d + PANELS.length) % PANELS.length;
    return { ui: { ...ui, panel: PANELS[i] } };
  };
  if (key.upArrow || input === 'k') return move(-1);
  if (key.downArrow || input === 'j') return move(1);
  if ((key.tab && key.shift) || key.leftArrow) return cycle(-1);
  if (key.tab || key.rightArrow) return cycle(1);
  if (input === '?') return { ui: { ...ui, overlay: { kind: 'help' } } };
  if (input === 'r') return { ui: { ...ui, message: 'refreshing…' }, action: { kind: 'refresh' } };
  const sel = ui.selected[ui.panel];
  if (key.return) {
    if (ui.panel === 'jobs' && data.jobs[sel])
      return { ui: { ...ui, overlay: { kind: 'job', id: data.jobs[sel].id } } };
    if (ui.panel === 'benchmarks' && data.benchmarks[sel])
      return { ui: { ...ui, overlay: { kind: 'benchmark', id: data.benchmarks[sel].id } } };
    return { ui };
  }
  if (input === 'c') {
    const job = ui.panel === 'jobs' ? data.jobs[sel] : undefined;
    if (!job) return { ui: { ...ui, message: 'select a job in the Jobs panel to cancel it' } };
    return cancelAsk(ui, data, job.id);
  }
  if (input === 'u' && ui.panel === 'deployments' && data.deployments[sel])
    return {
      ui: { ...ui, message: `undeploying ${data.deployments[sel].id}…` },
      action: { kind: 'undeploy', id: data.deployments[sel].id },
    };
  return { ui };
}

function cancelAsk(ui: UiState, data: DashboardData, id: string): { ui: UiState } {
  const job = data.jobs.find((j) => j.id === id);
  if (job && !isActiveJob(job)) return { ui: { ...ui, message: `job ${id.slice(0, 8)} already ${job.state}` } };
  return { ui: { ...ui, overlay: { kind: 'confirm-cancel', id } } };
}
