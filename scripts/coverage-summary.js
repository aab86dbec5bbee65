#!/usr/bin/env node
'use strict';
// One line-coverage table for the whole repository; fails when the total is under
// CVP_COVERAGE_GATE (default 80 %).
//
// TypeScript: every jest project's coverage-final.json is merged file by file (a union: a line
// counts once, covered when any project ran it), so a source exercised by its own project and by
// the e2e flows is neither counted twice nor missed. Native and python: their summary.json totals.
const fs = require('node:fs');
const path = require('node:path');
const { createCoverageMap } = require('istanbul-lib-coverage');

const repo = path.resolve(__dirname, '..');
const root = path.join(repo, 'coverage');
const gate = Number(process.env.CVP_COVERAGE_GATE || 80);

const merged = createCoverageMap({});
const jestProjects = [];
const rows = [];
function walk(dir) {
  for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name === 'coverage-final.json') {
      merged.merge(JSON.parse(fs.readFileSync(p, 'utf8')));
      jestProjects.push(path.relative(root, dir));
    } else if (e.name === 'summary.json') {
      const t = JSON.parse(fs.readFileSync(p, 'utf8')).lines;
      rows.push([path.relative(root, dir), t.total, t.covered]);
    }
  }
}
walk(root);

// Rows of the merged map by project folder (apps/<name>, libs/<name>), from each file's path.
const byProject = new Map();
for (const file of merged.files()) {
  const rel = path.relative(repo, file).split(path.sep);
  const project = rel.length > 2 ? rel.slice(0, 2).join('/') : rel[0];
  const lines = merged.fileCoverageFor(file).toSummary().lines;
  const acc = byProject.get(project) ?? [0, 0];
  byProject.set(project, [acc[0] + lines.total, acc[1] + lines.covered]);
}
for (const [project, [t, c]] of byProject) rows.push([project, t, c]);

if (!rows.length) {
  console.error('coverage: no coverage found under coverage/');
  process.exit(1);
}
rows.sort((a, b) => a[0].localeCompare(b[0]));
const total = rows.reduce((a, r) => a + r[1], 0);
const covered = rows.reduce((a, r) => a + r[2], 0);
const pct = (c, t) => (t ? ((100 * c) / t).toFixed(1) : '100.0');
console.log(
  `\nline coverage (TypeScript: ${merged.files().length} files, union of ${jestProjects.length} jest projects)`,
);
for (const [name, t, c] of rows)
  console.log(`  ${name.padEnd(28)} ${String(c).padStart(6)}/${String(t).padEnd(6)} ${pct(c, t).padStart(6)} %`);
console.log(
  `  ${'TOTAL'.padEnd(28)} ${String(covered).padStart(6)}/${String(total).padEnd(6)} ${pct(covered, total).padStart(6)} %  (gate ${gate} %)`,
);
if ((100 * covered) / total < gate) {
  console.error(`coverage ${pct(covered, total)} % is under the ${gate} % gate`);
  process.exit(1);
}
