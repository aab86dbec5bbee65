'use strict';
// Preloaded (`--require`) into worker threads and child processes that run TypeScript sources
// (jest runs the sources; its transform does not reach another thread or process): compiles .ts
// files on require with SWC, as jest does, and resolves the @cvp/* aliases from tsconfig.base.json.
// Compiled code (dist/, bundles) never loads it.
const fs = require('node:fs');
const path = require('node:path');
const swc = require('@swc/core');
const tsconfigPaths = require('tsconfig-paths');

const root = path.resolve(__dirname, '../..');
tsconfigPaths.register({ baseUrl: root, paths: require('../../tsconfig.base.json').compilerOptions.paths });

const options = (filename) => ({
  filename,
  sourceMaps: 'inline',
  jsc: {
    target: 'es2022',
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
});

// require.extensions is deprecated but is the one synchronous compile hook CommonJS offers.
require.extensions['.ts'] = (module, filename) => {
  module._compile(swc.transformSync(fs.readFileSync(filename, 'utf8'), options(filename)).code, filename);
};
