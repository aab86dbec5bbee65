// Shared jest configuration of every project: SWC transform (fast on 2 cores, keeps decorator
// metadata for Nest DI), @cvp/* aliases, a real nats-server per run from the global setup.
const path = require('node:path');
const root = path.resolve(__dirname, '../..');

// The @cvp/* aliases come from tsconfig.base.json, so the compiler, lint and jest resolve the same
// entry points (a lib's `@cvp/x`, and the `@cvp/x/testing` entry points of tests).
const aliases = Object.fromEntries(
  Object.entries(require('../../tsconfig.base.json').compilerOptions.paths).map(([alias, [target]]) => [
    `^${alias.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`,
    path.join(root, target),
  ]),
);

/** The SWC transform of one source kind (.ts, or .tsx with preact's automatic JSX runtime). */
const swc = (parser) => [
  '@swc/jest',
  {
    jsc: {
      target: 'es2022',
      parser,
      transform: {
        legacyDecorator: true,
        decoratorMetadata: true,
        react: { runtime: 'automatic', importSource: 'preact' },
      },
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

/**
 * @param projectDir the project's folder
 * @param overrides jest options; `coverageAlso: ['libs/x']` adds another project's sources to this
 *   project's coverage, for a lib whose real counterpart lives in an app (the lease client is
 *   tested against the gateway's lease service, and a lib may not import an app);
 *   `coverageOf: [...]` replaces this project's own sources (a test-only project covers others).
 */
module.exports = (projectDir, { coverageAlso = [], coverageOf, ...overrides } = {}) => {
  const name = path.relative(root, projectDir);
  const sources = coverageOf ?? [name, ...coverageAlso];
  return {
    displayName: name,
    // rootDir is the workspace so coverage can name sources of more than one project.
    rootDir: root,
    roots: [projectDir],
    testEnvironment: 'node',
    testMatch: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
    transform: {
      '^.+\\.ts$': swc({ syntax: 'typescript', decorators: true }),
      // Views are TSX rendered to HTML strings by preact (tsconfig: jsx react-jsx, importSource preact).
      '^.+\\.tsx$': swc({ syntax: 'typescript', decorators: true, tsx: true }),
    },
    moduleFileExtensions: ['ts', 'tsx', 'js', 'json'],
    moduleNameMapper: aliases,
    globalSetup: path.join(__dirname, 'global-setup.js'),
    globalTeardown: path.join(__dirname, 'global-teardown.js'),
    collectCoverageFrom: sources.flatMap((p) => [
      `${p}/src/**/*.ts`,
      `${p}/src/**/*.tsx`,
      `!${p}/src/**/*.spec.ts`,
      `!${p}/src/**/*.int-spec.ts`,
      `!${p}/src/**/*.e2e-spec.ts`,
      `!${p}/src/main.ts`,
      `!${p}/src/**/testing/**`,
    ]),
    coverageDirectory: path.join(root, 'coverage', name),
    // json: coverage-final.json, which scripts/coverage-summary.js merges file by file across projects.
    coverageReporters: ['json', 'json-summary', 'lcov', 'text-summary'],
    testTimeout: 60000,
    ...overrides,
  };
};
