/** Small text formatters shared by the tables, the progress view and the dashboard. */

export const shortId = (id: string | null | undefined, n = 8) => (id ? (id.length > n ? id.slice(0, n) : id) : '-');

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? duration(now - t) : '-';
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export const percent = (p: number | null | undefined) =>
  p === null || p === undefined ? '-' : `${Math.round(Math.max(0, Math.min(1, p)) * 100)}%`;

/** A bar of `width` cells for 0..1 (unicode blocks; plain # and . when asked). */
export function bar(p: number, width: number, ascii = false): string {
  const w = Math.max(1, width);
  const filled = Math.round(Math.max(0, Math.min(1, p)) * w);
  return (ascii ? '#' : '█').repeat(filled) + (ascii ? '.' : '░').repeat(w - filled);
}

/** Milliseconds with the precision a reader needs: 0.03 ms, 4.1 ms, 131 ms. */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`;
}
