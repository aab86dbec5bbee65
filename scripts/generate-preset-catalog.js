#!/usr/bin/env node
'use strict';
/**
 * Writes python/cvp_ml/presets.json from the preset catalog in libs/contracts/src/presets.ts, so
 * python builds exactly the presets the gateway offers. Run it after editing the catalog:
 *
 *   node scripts/generate-preset-catalog.js
 *
 * libs/contracts/src/presets.spec.ts fails while the committed file differs from what this writes.
 */
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
require(path.join(root, 'libs/jobs/src/testing/register-ts.js'));
const { presetCatalogJson } = require(path.join(root, 'libs/contracts/src/presets.ts'));

const out = path.join(root, 'python/cvp_ml/presets.json');
const tmp = `${out}.tmp-${process.pid}`;
fs.writeFileSync(tmp, presetCatalogJson());
fs.renameSync(tmp, out);
process.stdout.write(`wrote ${path.relative(root, out)}\n`);
