#!/usr/bin/env node
'use strict';
// `cvp`: the compiled CLI (dist/apps/cli, built by the bootstrap) with @cvp/* resolved to dist/libs.
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '../../..');
const entry = path.join(root, 'dist/apps/cli/src/main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(
    `cvp is not built yet (${path.relative(process.cwd(), entry)} is missing): run npm start or bash scripts/bootstrap.sh\n`,
  );
  process.exit(1);
}
require(path.join(root, 'scripts/register-paths.js'));
let finished = false;
// An event loop that empties before the command settles is a bug: never let it pass for success.
process.once('beforeExit', () => {
  if (finished) return;
  process.stderr.write('cvp: internal error: the command stopped before it finished\n');
  process.exitCode = 1;
});
require(entry)
  .main(process.argv.slice(2))
  .then((code) => {
    finished = true;
    process.exitCode = code;
  });
