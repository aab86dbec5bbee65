// Shared jest settings for every project: SWC transform (fast on 2 cores, keeps decorator
// metadata for Nest DI), @cvp/* aliases, a real nats-server per run from the global setup.
const path = require('node:path');
const root = path.resolve(__dirname, '../..');

/**
 * @param projectDir the project's folder
 * @param overrides jest options; `coverageAlso: ['libs/x']` adds another project's sources to this
 *   project's coverage, for a lib whose real counterpart lives in an app (the lease client is
 *   tested against the gateway's lease service, and a lib may not import an app).
 */
module.exports = (projectDir, { coverageAlso = [], ...overrides } = {}) => {
  const name = path.relative(root, projectDir);
  const sources = [name, ...coverageAlso];
  return {
    displayName: name,
    // rootDir is the workspace so coverage can name sources of more than one project.
    rootDir: root,
    roots: [projectDir],
    testEnvironment: 'node',
    testMatch: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: {
            target: 'es2022',
            parser: { syntax: 'typescript', decorators: true },
            transform: { legacyDecorator: true, decoratorMetadata: true },
            keepClassNames: true,
          },
          module: { type: 'commonjs' },
          sourceMaps: 'inline',
        },
      ],
    },
    moduleFileExtensions: ['ts', 'js', 'json'],
    moduleNameMapper: {
      // Test doubles of a lib, imported as @cvp/<lib>/testing (never by production code).
      '^@cvp/([^/]+)/testing$': path.join(root, 'libs/$1/src/testing'),
      '^@cvp/(.*)$': path.join(root, 'libs/$1/src'),
    },
    globalSetup: path.join(__dirname, 'global-setup.js'),
    globalTeardown: path.join(__dirname, 'global-teardown.js'),
    collectCoverageFrom: sources.flatMap((p) => [
      `${p}/src/**/*.ts`,
      `!${p}/src/**/*.spec.ts`,
      `!${p}/src/**/*.int-spec.ts`,
      `!${p}/src/**/*.e2e-spec.ts`,
      `!${p}/src/main.ts`,
      `!${p}/src/**/testing/**`,
    ]),
    coverageDirectory: path.join(root, 'coverage', name),
    coverageReporters: ['json-summary', 'lcov', 'text-summary'],
    testTimeout: 60000,
    ...overrides,
  };
};
