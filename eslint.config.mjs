import comments from '@eslint-community/eslint-plugin-eslint-comments';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const APPS = ['gateway', 'trainer-bridge', 'bench', 'inference', 'packager'];

/** Apps import libs, never each other; libs never import apps; e2e imports libs (and, below, apps' testing entry points). */
const moduleBoundaries = (allow = []) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    // Plain-JS process helpers shared by the supervisor and the e2e tests.
    allow: ['^(\\.\\./)+scripts/lib/(ports|gateway-process)$', ...allow],
    depConstraints: [
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
      { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
      { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib'] },
    ],
  },
];

export default [
  { ignores: ['**/dist', '**/node_modules', '**/coverage', 'native/**', 'python/**', 'var/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: { '@nx': nx, '@eslint-community/eslint-comments': comments },
    rules: {
      '@nx/enforce-module-boundaries': moduleBoundaries(),
      // The boundaries are changed in this file, in the open, never switched off in a source file:
      // no disable comment may name the rule (or disable every rule), and no inline config comment
      // (`/* eslint rule: off */`) may reconfigure any rule.
      '@eslint-community/eslint-comments/no-restricted-disable': ['error', '@nx/enforce-module-boundaries'],
      '@eslint-community/eslint-comments/no-use': [
        'error',
        { allow: ['eslint-disable', 'eslint-enable', 'eslint-disable-line', 'eslint-disable-next-line'] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Production sources never load a testing entry point (the build leaves testing/ out).
    files: ['apps/*/src/**/*.ts', 'apps/*/src/**/*.tsx', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^@cvp/[^/]+/testing$',
              message: 'Testing entry points are for tests; production code never loads them.',
            },
          ],
        },
      ],
    },
  },
  {
    // Cross-service suites reach an app only through its `@cvp/<app>/testing` entry point.
    files: ['e2e/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': moduleBoundaries(APPS.map((app) => `^@cvp/${app}/testing$`)),
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/apps/**', 'apps/**'],
              message: "An app's internals are not e2e's to import: use its `@cvp/<app>/testing` entry point.",
            },
            {
              regex: '^@cvp/[^/]+/(?!testing$).+',
              message: 'Import a project through `@cvp/<lib>` or `@cvp/<project>/testing`, never a deep path.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
];
