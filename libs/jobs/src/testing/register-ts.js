'use strict';
// Lets a plain `node` child process (tests that kill a worker for real) load the TypeScript
// sources: @swc/core transforms .ts on require, @cvp/* resolves to libs/*/src.
const path = require('node:path');
const swc = require('@swc/core');
const tsconfigPaths = require('tsconfig-paths');

const root = path.resolve(__dirname, '../../../..');
tsconfigPaths.register({ baseUrl: root, paths: { '@cvp/*': ['libs/*/src'] } });
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformFileSync(filename, {
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
