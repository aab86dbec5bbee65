// Shared jest settings for every project: SWC transform (fast on 2 cores, keeps decorator
// metadata for Nest DI), @cvp/* aliases, a real nats-server per run from the global setup.
const path = require('node:path');
const root = path.resolve(__dirname, '../..');

module.exports = (projectDir, overrides = {}) => {
  const name = path.relative(root, projectDir);
  return {
    displayName: name,
    rootDir: projectDir,
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
    moduleNameMapper: { '^@cvp/(.*)$': path.join(root, 'libs/$1/src') },
    globalSetup: path.join(__dirname, 'global-setup.js'),
    globalTeardown: path.join(__dirname, 'global-teardown.js'),
    collectCoverageFrom: ['src/**/*.ts', '!src/**/*.spec.ts', '!src/**/*.int-spec.ts', '!src/**/*.e2e-spec.ts', '!src/main.ts', '!src/**/testing/**'],
    coverageDirectory: path.join(root, 'coverage', name),
    coverageReporters: ['json-summary', 'lcov', 'text-summary'],
    testTimeout: 60000,
    ...overrides,
  };
};
