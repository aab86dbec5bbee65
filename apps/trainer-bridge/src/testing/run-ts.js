'use strict';
// Test launcher: `node run-ts.js FILE.ts args...` runs a TypeScript entry point from source through
// SWC (what jest uses), so tests drive the current sources rather than a stale dist/ build.
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const swc = require('@swc/core');

const root = path.resolve(__dirname, '../../../..');
const origResolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request.startsWith('@cvp/')) request = path.join(root, 'libs', request.slice(5).split('/')[0], 'src');
  return origResolve.call(this, request, parent, ...rest);
};
require.extensions['.ts'] = function (mod, filename) {
  const out = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
    },
    module: { type: 'commonjs' },
  });
  mod._compile(out.code, filename);
};
const entry = path.resolve(process.argv[2]);
process.argv.splice(1, 2, entry);
require(entry);
