import { ROLES } from '@cvp/contracts';
import type { ApiKeyView } from '../../api-keys/api-keys.service';
import type { AuditEntryEntity } from '../../audit/audit-entry.entity';
import type { UserView } from '../../users/user.entity';
import { Csrf, Empty, Field, FormProblem, Select, StateBadge, Table, Time } from '../views/components';
import { Layout } from '../views/layout';
import type { FieldErrors, PageContext } from '../views/page-context';

export function UserForm({
  ctx,
  errors,
  values,
}: {
  ctx: PageContext;
  errors?: FieldErrors;
  values?: Record<string, string | undefined>;
}) {
  return (
    <form
      id="user-create"
      class="card"
      method="post"
      action="/ui/admin/users"
      hx-post="/ui/admin/users"
      hx-target="this"
      hx-swap="outerHTML"
    >
      <h2>Add a user</h2>
      <Csrf ctx={ctx} />
      <FormProblem errors={errors} />
      <div class="row">
        <Field
          form="user-create"
          name="username"
          label="Username"
          value={values?.username}
          errors={errors}
          required
          attrs={{ autocomplete: 'off' }}
        />
        <Field
          form="user-create"
          name="password"
          label="Password"
          type="password"
          errors={errors}
          required
          hint="8 to 72 bytes"
          attrs={{ autocomplete: 'new-password' }}
        />
        <Select
          form="user-create"
          name="role"
          label="Role"
          options={ROLES}
          value={values?.role ?? 'viewer'}
          errors={errors}
        />
      </div>
      <button type="submit" class="primary">
        Add user
      </button>
    </form>
  );
}

/** Creating a key shows it here, once; the list only ever shows its prefix. */
export function ApiKeyForm({
  ctx,
  errors,
  values,
  created,
}: {
  ctx: PageContext;
  errors?: FieldErrors;
  values?: Record<string, string | undefined>;
  created?: { name: string; key: string };
}) {
  return (
    <form
      id="apikey-create"
      class="card"
      method="post"
      action="/ui/admin/api-keys"
      hx-post="/ui/admin/api-keys"
      hx-target="this"
      hx-swap="outerHTML"
    >
      <h2>New API key</h2>
      <Csrf ctx={ctx} />
      {created && (
        <div class="alert ok" role="status">
          <p>
            Key <strong>{created.name}</strong> (scope infer). Copy it now: it is not shown again.
          </p>
          <p class="secret" id="new-api-key">
            {created.key}
          </p>
        </div>
      )}
      <FormProblem errors={errors} />
      <Field
        form="apikey-create"
        name="name"
        label="Name"
        value={created ? undefined : values?.name}
        errors={errors}
        required
        hint="what uses it, e.g. camera-line-3"
      />
      <button type="submit" class="primary">
        Create key
      </button>
    </form>
  );
}

export function AdminPage({ ctx, users, keys }: { ctx: PageContext; users: UserView[]; keys: ApiKeyView[] }) {
  return (
    <Layout ctx={ctx} title="Admin">
      <p>
        <a href="/ui/admin/audit">Audit log</a>
      </p>
      <h2>Users</h2>
      <Table label="Users" head={['Username', 'Role', 'Status', 'Last sign-in', 'Created', '']}>
        {users.map((u) => (
          <tr key={u.id}>
            <td>{u.username}</td>
            <td>{u.role}</td>
            <td>
              <StateBadge state={u.disabled ? 'disabled' : 'active'} />
            </td>
            <td>
              <Time iso={u.lastLoginAt} />
            </td>
            <td>
              <Time iso={u.createdAt} />
            </td>
            <td>
              {u.id !== ctx.user?.id && (
                <form
                  method="post"
                  action={`/ui/admin/users/${u.id}/${u.disabled ? 'enable' : 'disable'}`}
                  hx-post={`/ui/admin/users/${u.id}/${u.disabled ? 'enable' : 'disable'}`}
                >
                  <Csrf ctx={ctx} />
                  <button type="submit" class={u.disabled ? '' : 'danger'}>
                    {u.disabled ? 'Enable' : 'Disable'}
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </Table>
      <UserForm ctx={ctx} />
      <h2>API keys</h2>
      <Table label="API keys" head={['Name', 'Prefix', 'Scope', 'Created', 'Last used', 'Status', '']}>
        {keys.length === 0 && <Empty cols={7}>No API keys.</Empty>}
        {keys.map((k) => (
          <tr key={k.id}>
            <td>{k.name}</td>
            <td>
              <code>{k.prefix}…</code>
            </td>
            <td>{k.scope}</td>
            <td>
              <Time iso={k.createdAt} />
            </td>
            <td>
              <Time iso={k.lastUsedAt} />
            </td>
            <td>
              <StateBadge state={k.revokedAt ? 'revoked' : 'active'} />
            </td>
            <td>
              {!k.revokedAt && (
                <form
                  method="post"
                  action={`/ui/admin/api-keys/${k.id}/revoke`}
                  hx-post={`/ui/admin/api-keys/${k.id}/revoke`}
                  hx-confirm={`Revoke key ${k.name}?`}
                >
                  <Csrf ctx={ctx} />
                  <button type="submit" class="danger">
                    Revoke
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </Table>
      <ApiKeyForm ctx={ctx} />
    </Layout>
  );
}

export function AuditPage({
  ctx,
  entries,
  total,
  page,
  limit,
  filter,
}: {
  ctx: PageContext;
  entries: AuditEntryEntity[];
  total: number;
  page: number;
  limit: number;
  filter: { actor?: string; result?: string };
}) {
  const link = (p: number) =>
    `/ui/admin/audit?${new URLSearchParams({ ...(filter as Record<string, string>), page: String(p) })}`;
  return (
    <Layout ctx={ctx} title="Audit log">
      <form class="card row" method="get" action="/ui/admin/audit">
        <Field form="audit-filter" name="actor" label="Actor" value={filter.actor} hint="user name or id" />
        <Select
          form="audit-filter"
          name="result"
          label="Result"
          options={['', 'success', 'denied', 'failure'].map((r) => ({ value: r, label: r || 'any' }))}
          value={filter.result ?? ''}
        />
        <div class="actions">
          <button type="submit">Filter</button>
        </div>
      </form>
      <Table label="Audit log" head={['When', 'Actor', 'Action', 'Target', 'Result', 'Status', 'Path', 'Detail']}>
        {entries.length === 0 && <Empty cols={8}>No entries match.</Empty>}
        {entries.map((e) => (
          <tr key={e.id}>
            <td>
              <Time iso={e.at} />
            </td>
            <td>{e.actorName ?? e.actorKind}</td>
            <td>{e.action}</td>
            <td class="wrap">{e.target ?? ''}</td>
            <td>
              <StateBadge
                state={e.result === 'success' ? 'succeeded' : e.result === 'denied' ? 'failed' : 'cancelled'}
              />{' '}
              {e.result}
            </td>
            <td class="num">{e.status}</td>
            <td class="wrap">
              {e.method} {e.path}
            </td>
            <td class="wrap">{e.detail ?? ''}</td>
          </tr>
        ))}
      </Table>
      <p class="actions">
        {page > 1 && <a href={link(page - 1)}>← Newer</a>}
        <span class="muted">
          Page {page} of {Math.max(1, Math.ceil(total / limit))} ({total} entries)
        </span>
        {page * limit < total && <a href={link(page + 1)}>Older →</a>}
      </p>
    </Layout>
  );
}
