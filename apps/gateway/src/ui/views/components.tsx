import type { ComponentChildren, JSX } from 'preact';
import { CSRF_FIELD } from '../session/csrf.guard';
import type { FieldErrors, PageContext } from './page-context';

/** The hidden CSRF field of a form (htmx also sends the token as a header). */
export function Csrf({ ctx }: { ctx: PageContext }) {
  return <input type="hidden" name={CSRF_FIELD} value={ctx.csrfToken ?? ''} />;
}

/** An id for a form control from the form's and the field's names. */
const controlId = (form: string, name: string) => `${form}-${name}`.replace(/[^A-Za-z0-9_-]/g, '-');

interface FieldProps {
  form: string;
  name: string;
  label: string;
  errors?: FieldErrors;
  hint?: string;
  value?: string | number;
  type?: string;
  required?: boolean;
  attrs?: JSX.InputHTMLAttributes<HTMLInputElement>;
}

/** A labelled input with its hint and, when the server refused it, its problem next to it. */
export function Field({ form, name, label, errors, hint, value, type = 'text', required, attrs }: FieldProps) {
  const id = controlId(form, name);
  const problem = errors?.[name];
  const described = [hint ? `${id}-hint` : '', problem ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class={`field${problem ? ' invalid' : ''}`}>
      <label for={id}>{label}</label>
      <input
        id={id}
        name={name}
        type={type}
        value={value === undefined ? undefined : String(value)}
        required={required}
        aria-invalid={problem ? 'true' : undefined}
        aria-describedby={described || undefined}
        {...attrs}
      />
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {problem && (
        <small id={`${id}-error`} class="error" role="alert">
          {problem}
        </small>
      )}
    </div>
  );
}

interface SelectProps {
  form: string;
  name: string;
  label: string;
  options: readonly (string | { value: string; label: string })[];
  value?: string;
  errors?: FieldErrors;
  hint?: string;
}

export function Select({ form, name, label, options, value, errors, hint }: SelectProps) {
  const id = controlId(form, name);
  const problem = errors?.[name];
  const described = [hint ? `${id}-hint` : '', problem ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class={`field${problem ? ' invalid' : ''}`}>
      <label for={id}>{label}</label>
      <select id={id} name={name} aria-invalid={problem ? 'true' : undefined} aria-describedby={described || undefined}>
        {options.map((o) => {
          const v = typeof o === 'string' ? o : o.value;
          return (
            <option key={v} value={v} selected={v === value}>
              {typeof o === 'string' ? o : o.label}
            </option>
          );
        })}
      </select>
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {problem && (
        <small id={`${id}-error`} class="error" role="alert">
          {problem}
        </small>
      )}
    </div>
  );
}

/** A problem with the form as a whole (not one field). */
export function FormProblem({ errors }: { errors?: FieldErrors }) {
  const p = errors?._form;
  return p ? (
    <p class="alert error" role="alert">
      {p}
    </p>
  ) : null;
}

/** A table in a horizontally scrollable, focusable region, so narrow screens can reach every column. */
export function Table({ label, head, children }: { label: string; head: string[]; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>
        <thead>
          <tr>
            {head.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export function Empty({ cols, children }: { cols: number; children: ComponentChildren }) {
  return (
    <tr>
      <td colSpan={cols} class="empty">
        {children}
      </td>
    </tr>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state.replace(/[^a-z-]/g, '')}`}>{state}</span>;
}

/** A job's or upload's progress as a native progress element with its percentage as text. */
export function Progress({ value, label }: { value: number; label: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <span class="progress">
      <progress max={100} value={pct} aria-label={label}>
        {pct} %
      </progress>
      <span class="pct">{pct} %</span>
    </span>
  );
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span class="muted">—</span>;
  return <time dateTime={iso}>{iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>;
}

export const fmtMs = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(digits)} ms`;

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export const shortId = (id: string) => id.slice(0, 8);

/** A small notice for a fragment swapped into #flash. */
export function Notice({ kind, children }: { kind: 'ok' | 'error'; children: ComponentChildren }) {
  return (
    <p class={`alert ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}
