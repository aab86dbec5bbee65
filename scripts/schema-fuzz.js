#!/usr/bin/env node
'use strict';
/**
 * Schemathesis against the compiled gateway's OpenAPI document (/api/docs/openapi.json): a fixed
 * seed and a bounded number of examples per operation, as an admin (the role that reaches every
 * route), every operation except job creation (it queues real work for workers that are not
 * running). Checks: no 5xx, and every status, content type and body matches the document.
 *
 *   node scripts/schema-fuzz.js --st PATH [--examples N] [--seed N]
 *
 * Without schemathesis installed it reports skipped with the reason (the bootstrap installs it).
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startCompiledGateway } = require('./lib/gateway-process');
const { startNatsServer } = require('./lib/nats-server');

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};

async function main() {
  const st = arg('--st', process.env.CVP_SCHEMATHESIS);
  if (!st || !fs.existsSync(st)) {
    console.log('skipped: schemathesis not installed (bootstrap installs the tools environment)');
    return 0;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-schema-fuzz-'));
  const nats = await startNatsServer({ storeDir: path.join(dir, 'nats') });
  let gw;
  try {
    // High limits: the fuzzer is one account making many requests; the limits have their own tests.
    gw = await startCompiledGateway({
      natsUrl: nats.url,
      dataDir: path.join(dir, 'data'),
      env: { CVP_LOGIN_THROTTLE_LIMIT: '10000', CVP_LOGIN_MAX_FAILURES: '100', CVP_USER_MAX_ACTIVE_JOBS: '100000' },
    });
    const login = await fetch(`${gw.origin}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: gw.adminPassword }),
    });
    const { accessToken } = await login.json();
    const args = [
      'run',
      `${gw.origin}/api/docs/openapi.json`,
      '--base-url',
      gw.origin,
      '--header',
      `Authorization: Bearer ${accessToken}`,
      '--checks',
      'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
      '--exclude-path-regex',
      '^/api/v1/jobs/\\{type\\}$',
      '--hypothesis-seed',
      arg('--seed', '17'),
      '--hypothesis-max-examples',
      arg('--examples', '15'),
      '--hypothesis-phases',
      'explicit,generate',
      '--request-timeout',
      '10000',
      '--workers',
      '1',
      '--no-color',
    ];
    const code = await new Promise((resolve) => {
      const child = spawn(st, args, { stdio: 'inherit', env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' } });
      const timer = setTimeout(() => child.kill('SIGTERM'), 15 * 60_000);
      child.on('exit', (c) => (clearTimeout(timer), resolve(c ?? 1)));
    });
    if (code !== 0) console.error(`schemathesis exited ${code}; gateway log tail:\n${gw.logs().slice(-4000)}`);
    return code;
  } finally {
    await gw?.stop();
    await nats.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`schema-fuzz: ${e.stack ?? e}`);
    process.exit(1);
  },
);
