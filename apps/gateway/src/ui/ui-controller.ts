import { applyDecorators, Controller, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import type { ZodError } from 'zod';
import { SessionAuth } from '../auth/session-auth';
import { CsrfGuard } from './session/csrf.guard';
import { UiExceptionFilter } from './ui-exception.filter';
import type { FieldErrors } from './views/page-context';

/**
 * A web UI controller: served under /ui (outside the REST prefix and the OpenAPI document), signed
 * in by session cookie or bearer token, CSRF-checked on every non-GET, errors rendered as HTML.
 */
export const UiController = (path: string) =>
  applyDecorators(
    Controller(path),
    SessionAuth(),
    UseGuards(CsrfGuard),
    UseFilters(UiExceptionFilter),
    ApiExcludeController(),
  );

/** The platform's role table, as the UI's routes declare it (the same as the REST routes they mirror). */
export const CanView = () => Roles('admin', 'engineer', 'viewer');
export const CanAct = () => Roles('admin', 'engineer');
export const CanAdminister = () => Roles('admin');

/** A zod error as problems next to fields (the first problem of each field; `_form` for the rest). */
export function fieldErrors(e: ZodError): FieldErrors {
  const out: FieldErrors = {};
  for (const i of e.issues) {
    const key = i.path.length ? String(i.path[0]) : '_form';
    out[key] ??= i.message;
  }
  return out;
}

/** A form's text value (urlencoded bodies give strings; anything else is absent). */
export function text(body: unknown, key: string): string | undefined {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** After an action: htmx navigates by HX-Redirect, a plain form post by 303 See Other. */
export function redirectAfterAction(
  req: { headers: Record<string, unknown> },
  res: import('express').Response,
  url: string,
) {
  if (req.headers['hx-request'] === 'true') {
    res.setHeader('HX-Redirect', url);
    res.status(200).end();
  } else res.redirect(303, url);
}

/** Form fields without the CSRF field, for schemas that refuse unknown keys. */
export function formFields(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((body as Record<string, unknown>) ?? {}))
    if (k !== '_csrf' && typeof v === 'string') out[k] = v;
  return out;
}

/** Empty form fields mean "not given". */
export function withoutEmpty(fields: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v.trim() !== ''));
}
