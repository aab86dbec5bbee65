import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { startBenchWorker } from '@cvp/bench/testing';
import { buildZip, type GatewayTestApp, startGatewayTestApp, TEST_PASSWORDS } from '@cvp/gateway/testing';
import { FIXTURES, type InferenceHarness, startInference } from '@cvp/inference/testing';
import { startTrainerBridge } from '@cvp/trainer-bridge/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium, screenshots } from './support/browser';

/**
 * The web UI in a real headless Chromium against the real platform in one process: the gateway
 * (sessions, CSRF, pages), trainer-bridge (the upload's conversion), the bench worker (the
 * protocol) and the data plane (deployments, metrics), over the run's nats-server. The model is
 * the data plane's tiny classifier fixture, so the whole protocol runs in well under a minute.
 */
describe('web UI in headless Chromium (gateway + trainer-bridge + bench + data plane)', () => {
  let gw: GatewayTestApp;
  let inf: InferenceHarness;
  let trainer: { close(): Promise<void>; app: INestApplicationContext };
  let bench: INestApplication;
  let browser: Browser;
  let modelId: string;
  let jobUrl: string;
  let benchmarkUrl: string;
  let datasetUrl: string;
  const dialogs: string[] = [];

  const api = (p: string, token: string, init: RequestInit = {}) =>
    fetch(`${gw.api}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });

  async function signIn(role: 'admin' | 'engineer' | 'viewer'): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await page.goto(`${gw.baseUrl}/ui/models`);
    expect(new URL(page.url()).pathname).toBe('/ui/login'); // not signed in: sent to sign in, then back
    await page.getByLabel('Username').fill(role);
    await page.getByLabel('Password').fill(TEST_PASSWORDS[role]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${gw.baseUrl}/ui/models`);
    return { context, page };
  }

  beforeAll(async () => {
    inf = await startInference({ CVP_INFER_WORKERS: '2' });
    gw = await startGatewayTestApp({
      env: { CVP_INFERENCE_URL: inf.url, CVP_UI_REFRESH_MS: '500', CVP_JOB_SSE_HEARTBEAT_MS: '1000' },
    });
    trainer = await startTrainerBridge(gw.dataDir);
    bench = await startBenchWorker(gw.dataDir);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bench?.close();
    await trainer?.close();
    await gw?.close();
    await inf?.close();
  });

  it('an engineer uploads a model, benchmarks it (progress to 100 % over SSE), opens the report, deploys, and sees requests rise', async () => {
    const { context, page } = await signIn('engineer');
    try {
      // Upload through the form (htmx multipart with a progress bar), then the model's page.
      const upload = page.locator('#model-upload');
      await upload.getByLabel('Model file').setInputFiles(path.join(FIXTURES, 'tiny_cls.onnx'));
      await upload.getByLabel('Format').selectOption('onnx');
      await upload.getByLabel('Task').selectOption('classify');
      await upload.getByLabel('Name', { exact: true }).fill('tiny-classifier');
      await upload.getByLabel('Class names').fill('red,green,blue');
      await upload.getByRole('button', { name: 'Upload' }).click();
      await page.waitForURL(/\/ui\/models\/[0-9a-f-]{36}$/, { timeout: 30_000 });
      modelId = page.url().split('/').pop()!;
      expect(await page.locator('h1').innerText()).toBe('Model tiny-classifier');
      // Conversion status: the jobs table polls until the convert job succeeds.
      await page.locator('#model-jobs .state-succeeded', { hasText: 'succeeded' }).waitFor({ timeout: 120_000 });
      await page.reload();
      expect(await page.getByRole('region', { name: 'Versions' }).innerText()).toContain('converted');
      await screenshots(page, 'model');

      // Start a benchmark from the model's page; the job page streams progress over SSE.
      await page.getByLabel('Max p95 (ms)').fill('5000');
      await page.getByRole('button', { name: 'Start benchmark' }).click();
      await page.waitForURL(/\/ui\/jobs\/[0-9a-f-]{36}$/, { timeout: 30_000 });
      jobUrl = page.url();
      expect(await page.locator('#job-live').getAttribute('sse-connect')).toMatch(/\/stream$/);
      const seen = new Set<string>();
      const until = Date.now() + 240_000;
      while (Date.now() < until) {
        seen.add((await page.locator('#job-status .pct').innerText()).trim());
        if ((await page.locator('#job-status').getAttribute('data-state')) === 'succeeded') break;
        await page.waitForTimeout(250);
      }
      expect((await page.locator('#job-status .pct').innerText()).trim()).toBe('100 %');
      expect(await page.locator('#job-status progress').getAttribute('value')).toBe('100');
      expect(await page.locator('#job-cancel').count()).toBe(0); // the final status came over SSE, without a reload
      // Progress moved on the page itself (no reload): more than the first and the last value were shown.
      expect(seen.size).toBeGreaterThan(2);
      await screenshots(page, 'job');

      // The report: the benchmark page embeds the simple and technical reports.
      await page.getByRole('link', { name: /^Benchmark report/ }).click();
      await page.waitForURL(/\/ui\/benchmarks\/bm-/);
      benchmarkUrl = page.url();
      const technical = page.frameLocator('iframe[title="Technical report"]');
      await technical.locator('svg.chart').first().waitFor({ timeout: 20_000 });
      const simple = page.frameLocator('iframe[title="Simple report"]');
      await simple.locator('body').waitFor();
      expect(await simple.locator('body').innerText()).toContain('Use ');
      await screenshots(page, 'benchmark');

      // Deploy bench's selection; the deployments table refreshes from the data plane's metrics.
      await page.goto(`${gw.baseUrl}/ui/deployments`);
      await page.getByLabel('Model', { exact: true }).selectOption(modelId);
      await page.getByLabel('Engine').selectOption('selected');
      await page.getByRole('button', { name: 'Deploy' }).click();
      const row = page.locator('#deployments-live tr', { hasText: 'tiny-classifier' });
      await row.locator('.state-ready').waitFor({ timeout: 60_000 });
      const requestsShown = async () => Number((await row.locator('[data-metric="requests"]').innerText()).trim()) || 0;
      const before = await requestsShown();
      const key = await gw.apiKey('ui-e2e');
      const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 20, b: 20 } } })
        .png()
        .toBuffer();
      for (let i = 0; i < 5; i++) {
        const r = await api(`/models/${modelId}/infer?top_k=1`, key, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: new Uint8Array(png),
        });
        expect(r.status).toBe(200);
      }
      const deadline = Date.now() + 20_000;
      while ((await requestsShown()) < before + 5 && Date.now() < deadline) await page.waitForTimeout(250);
      expect(await requestsShown()).toBeGreaterThanOrEqual(before + 5);
      expect(await row.locator('td.num').nth(2).innerText()).toMatch(/ms$/); // p50 shown
      await screenshots(page, 'deployments');

      // The other pages an engineer uses, for the README's pictures.
      const ds = buildZip([
        { name: 'data.yaml', data: 'path: .\ntrain: images/train\nval: images/val\nnames: [square]\n' },
        { name: 'images/train/a.png', data: png },
        { name: 'labels/train/a.txt', data: '0 0.5 0.5 0.4 0.4\n' },
        { name: 'images/val/b.png', data: png },
        { name: 'labels/val/b.txt', data: '3 0.5 0.5 1.7 0.4\n' },
      ]);
      await page.goto(`${gw.baseUrl}/ui/datasets`);
      await page
        .getByLabel('Zip archive')
        .setInputFiles({ name: 'shapes <b>bold</b>.zip', mimeType: 'application/zip', buffer: ds });
      await page.getByLabel('Format').selectOption('yolo');
      await page.getByRole('button', { name: 'Upload and validate' }).click();
      await page.waitForURL(/\/ui\/datasets\/[0-9a-f-]{36}$/, { timeout: 30_000 });
      datasetUrl = page.url();
      // Per-file problems of the validation report, the file named.
      expect(await page.getByRole('region', { name: 'Problems per file' }).innerText()).toContain('labels/val/b.txt');
      await screenshots(page, 'dataset');
      for (const [p, name] of [
        ['/ui', 'overview'],
        ['/ui/models', 'models'],
        ['/ui/datasets', 'datasets'],
        ['/ui/jobs', 'jobs'],
        ['/ui/benchmarks', 'benchmarks'],
        ['/ui/gpu', 'gpu'],
      ] as const) {
        await page.goto(`${gw.baseUrl}${p}`);
        await screenshots(page, name);
      }
    } finally {
      await context.close();
    }
  }, 420_000);

  it('a viewer sees every page but no action, and the server refuses the actions anyway', async () => {
    const { context, page } = await signIn('viewer');
    try {
      for (const url of [
        `${gw.baseUrl}/ui`,
        `${gw.baseUrl}/ui/models`,
        `${gw.baseUrl}/ui/models/${modelId}`,
        `${gw.baseUrl}/ui/datasets`,
        datasetUrl,
        `${gw.baseUrl}/ui/jobs`,
        jobUrl,
        `${gw.baseUrl}/ui/benchmarks`,
        benchmarkUrl,
        `${gw.baseUrl}/ui/deployments`,
        `${gw.baseUrl}/ui/gpu`,
      ]) {
        const r = await page.goto(url);
        expect(r?.status()).toBe(200);
        // The only state-changing form a viewer gets is signing out; GET forms (filters, compare) only read.
        const actions = await page.$$eval('form', (fs) =>
          fs.filter((f) => f.method.toLowerCase() === 'post').map((f) => f.getAttribute('action')),
        );
        expect({ url, actions }).toEqual({ url, actions: ['/ui/logout'] });
        expect(await page.locator('[hx-post],[hx-delete],[hx-put]').count()).toBe(0);
        expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
      }
      expect((await page.goto(`${gw.baseUrl}/ui/admin`))?.status()).toBe(403);
      // Actions posted with the viewer's own valid CSRF token are refused by role (same rule as REST).
      const statuses = await page.evaluate(
        async ({ modelId: id, urls }) => {
          const token = JSON.parse(document.body.getAttribute('hx-headers') ?? '{}')['X-CSRF-Token'];
          const out: number[] = [];
          for (const u of urls) {
            const r = await fetch(u.replace(':id', id), {
              method: 'POST',
              headers: { 'x-csrf-token': token, 'content-type': 'application/x-www-form-urlencoded' },
              body: 'preset=yolov8n&engine=ort-node&modelId=' + id,
              redirect: 'manual',
            });
            out.push(r.status);
          }
          return out;
        },
        {
          modelId,
          urls: [
            '/ui/models/presets',
            '/ui/models/:id/bench',
            '/ui/models/:id/delete',
            '/ui/deployments',
            '/ui/admin/api-keys',
          ],
        },
      );
      expect(statuses).toEqual([403, 403, 403, 403, 403]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('refuses cross-site and token-less form posts; the session cookie is HttpOnly and SameSite=Strict', async () => {
    const { context, page } = await signIn('engineer');
    const admin = await gw.login('admin');
    const count = async () => ((await (await api('/models', admin)).json()) as { total: number }).total;
    const models = await count();
    let evil: Server | undefined;
    try {
      // All of the context's cookies: filtered by an http:// URL, playwright would hide the Secure one.
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name.endsWith('cvp_session'))!;
      expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
      expect(await page.evaluate(() => document.cookie)).not.toContain('cvp_session');

      // Another site auto-submits a form to the UI: refused, nothing created.
      let hits = 0;
      evil = createServer((_req, res) => {
        hits++;
        res.setHeader('content-type', 'text/html');
        res.end(
          `<form id="f" method="post" action="${gw.baseUrl}/ui/models/presets"><input name="preset" value="yolov8n"><input name="name" value="forged"></form><script>document.getElementById('f').submit()</script>`,
        );
      });
      await new Promise<void>((r) => evil!.listen(0, '127.0.0.1', r));
      const port = (evil.address() as AddressInfo).port;
      for (const origin of [`http://localhost:${port}`, `http://127.0.0.1:${port}`]) {
        const answer = page.waitForResponse(
          (r) => r.url().startsWith(`${gw.baseUrl}/ui/`) && r.request().method() === 'POST',
        );
        await page.goto(`${origin}/`);
        const res = await answer;
        // 403: refused as cross-origin; 303: the browser withheld the Strict cookie, so it went to sign-in.
        expect({ origin, refused: [303, 403].includes(res.status()) }).toEqual({ origin, refused: true });
        if (res.status() === 303) expect(res.headers().location).toMatch(/^\/ui\/login/);
      }
      expect(hits).toBe(2);
      // Same origin, signed in, but without the CSRF token: refused by the token check itself.
      await page.goto(`${gw.baseUrl}/ui/models`);
      const noToken = await page.evaluate(async () => {
        const r = await fetch('/ui/models/presets', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'preset=yolov8n&name=forged',
        });
        return { status: r.status, text: await r.text() };
      });
      expect(noToken.status).toBe(403);
      expect(noToken.text).toContain('CSRF token missing or wrong');
      expect(await count()).toBe(models);
    } finally {
      evil?.closeAllConnections();
      evil?.close();
      await context.close();
    }
  }, 120_000);

  it('renders a model named <script>alert(1)</script> as text, and signing out ends the session', async () => {
    const engineer = await gw.login('engineer');
    const r = await api('/models/presets/yolov8n', engineer, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: '<script>alert(1)</script>' }),
    });
    expect(r.status).toBe(202);
    const hostile = ((await r.json()) as { model: { id: string } }).model.id;
    const { context, page } = await signIn('engineer');
    try {
      dialogs.length = 0;
      for (const url of [`${gw.baseUrl}/ui/models`, `${gw.baseUrl}/ui/models/${hostile}`, `${gw.baseUrl}/ui/jobs`]) {
        await page.goto(url);
        await page.waitForTimeout(300);
      }
      await page.goto(`${gw.baseUrl}/ui/models`);
      expect(await page.getByRole('link', { name: '<script>alert(1)</script>' }).count()).toBe(1);
      expect(await page.locator('script').count()).toBe(3); // htmx, its SSE extension, ui.js: nothing injected
      expect(dialogs).toEqual([]);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/ui\/login$/);
      await page.goto(`${gw.baseUrl}/ui/models`);
      expect(new URL(page.url()).pathname).toBe('/ui/login');
    } finally {
      await context.close();
    }
  }, 120_000);
  it('an admin creates an API key that is shown once, and reads the audit log of UI actions', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const login = await context.newPage();
    await login.goto(`${gw.baseUrl}/ui/login`);
    await screenshots(login, 'login');
    await context.close();
    const { context: ctx, page } = await signIn('admin');
    try {
      await page.goto(`${gw.baseUrl}/ui/admin`);
      await page.locator('#apikey-create').getByLabel('Name').fill('camera-line-3');
      await page.getByRole('button', { name: 'Create key' }).click();
      const key = (await page.locator('#new-api-key').innerText({ timeout: 10_000 })).trim();
      expect(key).toMatch(/^cvp_/);
      await screenshots(page, 'admin');
      // The key works for inference-scope calls, and the page never shows it again.
      expect((await fetch(`${gw.api}/auth/me`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
      await page.reload();
      expect(await page.content()).not.toContain(key);
      await page.goto(`${gw.baseUrl}/ui/admin/audit`);
      const log = await page.getByRole('region', { name: 'Audit log' }).innerText();
      expect(log).toContain('UiAdminController.createKey');
      expect(log).toContain('UiAuthController.login');
      await screenshots(page, 'audit');
    } finally {
      await ctx.close();
    }
  }, 60_000);
});
