#!/usr/bin/env node
'use strict';
/**
 * Dependency audit: `npm audit --omit=dev` over package-lock.json and pip-audit over the pinned
 * python requirements, against security/audit-allowlist.json (each accepted advisory with its
 * reason and a review date). Fails on any advisory not on the list and on any list entry past its
 * date. Where an audit service cannot be reached (an offline machine, a registry mirror without the
 * audit endpoint) that half is reported as skipped with the reason, never as passed.
 *
 *   node scripts/dependency-audit.js [--pip-audit PATH]
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const allow = JSON.parse(fs.readFileSync(path.join(ROOT, 'security/audit-allowlist.json'), 'utf8'));
const today = new Date().toISOString().slice(0, 10);
const problems = [];
const skipped = [];

function allowed(ecosystem, ids) {
  const entry = (allow[ecosystem] ?? []).find((e) => ids.includes(e.id));
  if (!entry) return false;
  if (!entry.reason) problems.push(`${ecosystem} allow-list entry ${entry.id} has no reason`);
  if (entry.until && entry.until < today)
    problems.push(`${ecosystem} allow-list entry ${entry.id} expired ${entry.until}`);
  return true;
}

function npmAudit() {
  const r = spawnSync('npm', ['audit', '--omit=dev', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    return skipped.push(
      `npm audit: no report (${(r.stderr || r.error?.message || '').split('\n').find((l) => /error|ERR/.test(l)) ?? 'no output'})`,
    );
  }
  if (report.error || report.message) return skipped.push(`npm audit: ${report.error?.summary || report.message}`);
  let n = 0;
  for (const [name, v] of Object.entries(report.vulnerabilities ?? {})) {
    for (const via of v.via ?? []) {
      if (typeof via !== 'object') continue; // a dependency of an affected package: reported under that one
      n++;
      const ghsa = /GHSA-[\w-]+/.exec(via.url ?? '')?.[0];
      const ids = [String(via.source), ghsa].filter(Boolean);
      if (!allowed('npm', ids))
        problems.push(`npm ${name}: ${via.severity} ${ghsa ?? via.source} ${via.title} (${via.url})`);
    }
  }
  console.log(`npm audit: ${n} advisories in production dependencies`);
}

function pipAudit(bin) {
  if (!bin || !fs.existsSync(bin))
    return skipped.push('pip-audit: not installed (bootstrap installs the tools environment)');
  // The full lock (every transitive package of the venv), and the top-level pins in case it lags.
  const files = ['python/constraints.txt', 'python/requirements.txt', 'python/requirements-tf.txt'].filter((f) =>
    fs.existsSync(path.join(ROOT, f)),
  );
  const args = ['--format', 'json', '--progress-spinner', 'off', '--no-deps', '--disable-pip'];
  for (const f of files) args.push('-r', f);
  const r = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    return skipped.push(`pip-audit: no report (${(r.stderr || '').trim().split('\n').pop()})`);
  }
  let n = 0;
  const deps = report.dependencies ?? [];
  const unaudited = deps.filter((d) => d.skip_reason);
  if (unaudited.length)
    skipped.push(
      `pip-audit: ${unaudited.length} of ${deps.length} packages could not be audited (${unaudited[0].skip_reason})`,
    );
  for (const dep of deps) {
    for (const vuln of dep.vulns ?? []) {
      n++;
      if (!allowed('python', [vuln.id, ...(vuln.aliases ?? [])]))
        problems.push(
          `python ${dep.name} ${dep.version}: ${vuln.id} (fixed in ${(vuln.fix_versions ?? []).join(', ') || 'no release'})`,
        );
    }
  }
  console.log(
    `pip-audit: ${n} advisories in ${deps.length - unaudited.length} audited packages of ${files.join(', ')}`,
  );
}

const at = process.argv.indexOf('--pip-audit');
npmAudit();
pipAudit(at > 0 ? process.argv[at + 1] : process.env.CVP_PIP_AUDIT);
for (const s of skipped) console.log(`skipped: ${s}`);
if (problems.length) {
  console.error(`dependency audit failed:\n  ${problems.join('\n  ')}`);
  console.error('fix the dependency, or add the advisory to security/audit-allowlist.json with a reason and a date');
  process.exit(1);
}
console.log(
  skipped.length
    ? 'dependency audit: nothing outside security/audit-allowlist.json in what could be audited (see skipped)'
    : 'dependency audit: nothing outside security/audit-allowlist.json',
);
