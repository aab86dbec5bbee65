import { CSRF_FIELD } from './csrf.guard';
import { Field, FormProblem } from '../views/components';
import { Layout } from '../views/layout';
import type { FieldErrors, PageContext } from '../views/page-context';

export interface LoginFormState {
  username?: string;
  next?: string;
  errors?: FieldErrors;
  loginCsrf: string;
}

export function LoginPage({ ctx, form }: { ctx: PageContext; form: LoginFormState }) {
  return (
    <Layout ctx={ctx} title="Sign in">
      <form class="card narrow" method="post" action="/ui/login" novalidate>
        <input type="hidden" name={CSRF_FIELD} value={form.loginCsrf} />
        {form.next && <input type="hidden" name="next" value={form.next} />}
        <FormProblem errors={form.errors} />
        <Field
          form="login"
          name="username"
          label="Username"
          value={form.username}
          errors={form.errors}
          required
          attrs={{ autocomplete: 'username', autofocus: true }}
        />
        <Field
          form="login"
          name="password"
          label="Password"
          type="password"
          errors={form.errors}
          required
          attrs={{ autocomplete: 'current-password' }}
        />
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </Layout>
  );
}
