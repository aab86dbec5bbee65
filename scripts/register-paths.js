'use strict';
// Resolves @cvp/* imports of the compiled services (dist/) at run time, like tsconfig paths do at build time.
const path = require('node:path');
const tsconfigPaths = require('tsconfig-paths');

tsconfigPaths.register({
  baseUrl: path.resolve(__dirname, '..', 'dist'),
  paths: { '@cvp/*': ['libs/*/src'] },
});
