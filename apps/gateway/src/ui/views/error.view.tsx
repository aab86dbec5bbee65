import { Notice } from './components';
import { Layout } from './layout';
import type { PageContext } from './page-context';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported file',
  422: 'Cannot process this',
  429: 'Too many requests',
  503: 'Unavailable',
};

export const errorTitle = (status: number) => TITLES[status] ?? (status >= 500 ? 'Something went wrong' : 'Error');

export function ErrorPage({ ctx, status, detail }: { ctx: PageContext; status: number; detail: string }) {
  return (
    <Layout ctx={ctx} title={errorTitle(status)}>
      <Notice kind="error">{detail}</Notice>
      <p>
        <a href="/ui">Back to the overview</a>
      </p>
    </Layout>
  );
}

/** What an htmx request gets instead of a page: a message for the #flash region. */
export function ErrorNotice({ status, detail }: { status: number; detail: string }) {
  return (
    <Notice kind="error">
      {errorTitle(status)}: {detail}
    </Notice>
  );
}
