import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePortsBelowEphemeral, isPortOpen } from '../../../scripts/lib/ports';
import { isAlive, OutputWatcher, ROOT, waitExit } from './support/processes';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureDatabase } = require('../../../scripts/lib/postgres-server') as {
  ensureDatabase: (adminUrl: string, name: string) => Promise<string>;
};

describe('supervisor (npm start without the bootstrap)', () => {
  it('starts every process, reports readiness, and on SIGTERM leaves no port bound and no child alive', async () => {
    const dataDir = path.join(process.env.CVP_TEST_DIR!, 'supervisor-var');
    const names = [
      'CVP_NATS_PORT',
      'CVP_NATIVE_PORT',
      'CVP_GATEWAY_PORT',
      'CVP_INFERENCE_PORT',
      'CVP_TRAINER_PORT',
      'CVP_BENCH_PORT',
      'CVP_PACKAGER_PORT',
    ];
    // The supervisor starts the processes one by one and checks each port before its process:
    // ports the kernel would also hand out as local ports of the earlier ones' connections (the
    // PostgreSQL pass opens many) could read as taken.
    const picked = await freePortsBelowEphemeral(names.length);
    const ports: Record<string, string> = Object.fromEntries(names.map((n, i) => [n, String(picked[i])]));
    // In the PostgreSQL pass the platform's gateway runs on a database of its own there.
    const pgUrl = process.env.CVP_TEST_PG_URL;
    const db = pgUrl ? { CVP_DB_URL: await ensureDatabase(pgUrl, 'cvp_supervisor_e2e') } : {};
    const sup = spawn(process.execPath, [path.join(ROOT, 'scripts/supervisor.js')], {
      cwd: ROOT,
      env: { ...process.env, ...ports, ...db, CVP_DATA_DIR: dataDir, CVP_DEMO: '0', CVP_NATS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = new OutputWatcher(sup.stdout!);
    new OutputWatcher(sup.stderr!);
    try {
      // Fails at once if the supervisor gives up (it exits), instead of waiting out the timeout.
      let ready = false;
      await Promise.race([
        out.waitFor(/all processes ready/, 150000).then(() => (ready = true)),
        new Promise<never>((_, reject) =>
          sup.once('exit', (code) => {
            if (!ready) reject(new Error(`supervisor exited ${code} before readiness:\n${out.text}`));
          }),
        ),
      ]);
      // One status table naming every process.
      for (const p of ['nats', 'gateway', 'inference', 'trainer-bridge', 'bench', 'packager'])
        expect(out.text).toMatch(new RegExp(`^${p}\\s+ready`, 'm'));
      const run = JSON.parse(fs.readFileSync(path.join(dataDir, 'run/supervisor.json'), 'utf8'));
      const pids = Object.values(run.processes as Record<string, { pid: number }>).map((p) => p.pid);
      expect(pids.length).toBeGreaterThanOrEqual(6);
      for (const pid of pids) expect(isAlive(pid)).toBe(true);
      for (const n of ['gateway', 'trainer-bridge', 'bench', 'inference', 'packager']) {
        expect(fs.existsSync(path.join(dataDir, 'logs', `${n}.log`))).toBe(true);
      }

      sup.kill('SIGTERM');
      expect(await waitExit(sup, 60000)).toBe(0);
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
      for (const n of names) expect(await isPortOpen(Number(ports[n]))).toBe(false);
    } finally {
      if (sup.exitCode === null) sup.kill('SIGKILL');
    }
  });
});
