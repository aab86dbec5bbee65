#!/usr/bin/env node
'use strict';
// Reads every project's line coverage (jest json-summary, native and python summary.json) and
// prints one table; fails when the total is under CVP_COVERAGE_GATE (default 80 %).
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', 'coverage');
const gate = Number(process.env.CVP_COVERAGE_GATE || 80);
const rows = [];
function walk(dir) {
  for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name === 'coverage-summary.json') {
      const t = JSON.parse(fs.readFileSync(p, 'utf8')).total.lines;
      rows.push([path.relative(root, dir), t.total, t.covered]);
    } else if (e.name === 'summary.json') {
      const t = JSON.parse(fs.readFileSync(p, 'utf8')).lines;
      rows.push([path.relative(root, dir), t.total, t.covered]);
    }
  }
}
walk(root);
if (!rows.length) {
  console.error('coverage: no coverage summaries found');
  process.exit(1);
}
rows.sort((a, b) => a[0].localeCompare(b[0]));
const total = rows.reduce((a, r) => a + r[1], 0);
const covered = rows.reduce((a, r) => a + r[2], 0);
const pct = (c, t) => (t ? ((100 * c) / t).toFixed(1) : '100.0');
console.log('\nline coverage');
for (const [name, t, c] of rows)
  console.log(`  ${name.padEnd(28)} ${String(c).padStart(6)}/${String(t).padEnd(6)} ${pct(c, t).padStart(6)} %`);
console.log(
  `  ${'TOTAL'.padEnd(28)} ${String(covered).padStart(6)}/${String(total).padEnd(6)} ${pct(covered, total).padStart(6)} %  (gate ${gate} %)`,
);
if ((100 * covered) / total < gate) {
  console.error(`coverage ${pct(covered, total)} % is under the ${gate} % gate`);
  process.exit(1);
}
