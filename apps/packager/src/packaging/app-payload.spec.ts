import { pruneLockfile, requiredPackages } from './app-payload';
import { assertSafeBundlePath } from './bundle-file';

describe('requiredPackages', () => {
  it('lists bare package names of compiled requires, scoped ones whole, without builtins or relative paths', () => {
    const src = `const a = require("@nestjs/core"); const b = require('nats'); const c = require("./x"); const d = require("node:fs");
      const e = require("path"); const f = require("@grpc/grpc-js/build/src/x"); const g = require("lodash/fp"); require("@cvp/platform");
      new Worker(src(require.resolve('onnxruntime-node'))); await import("esm-only");`;
    expect(requiredPackages(src).sort()).toEqual([
      '@cvp/platform',
      '@grpc/grpc-js',
      '@nestjs/core',
      'esm-only',
      'lodash',
      'nats',
      'onnxruntime-node',
    ]);
  });
});

describe('pruneLockfile', () => {
  const lock = {
    name: 'cvp',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'cvp', version: '1.0.0', dependencies: { a: '1', c: '1' }, devDependencies: { jest: '1' } },
      'node_modules/a': {
        version: '1.0.0',
        dependencies: { b: '^1' },
        peerDependencies: { p: '*', q: '*' },
        peerDependenciesMeta: { q: { optional: true } },
      },
      'node_modules/b': { version: '1.0.0' },
      'node_modules/a/node_modules/b': { version: '2.0.0', dependencies: { d: '1' } },
      'node_modules/d': { version: '1.0.0', optionalDependencies: { '@s/o': '1' } },
      'node_modules/@s/o': { version: '1.0.0', optional: true },
      'node_modules/p': { version: '1.0.0' },
      'node_modules/q': { version: '1.0.0' },
      'node_modules/c': { version: '1.0.0' },
      'node_modules/jest': { version: '1.0.0', dev: true },
    },
  };

  it('keeps what the roots reach (nested first, then upwards; optional deps; required peers) and nothing else', () => {
    const pruned = pruneLockfile(lock, { a: '1' }, 'bundle', '0.1.0');
    expect(Object.keys(pruned.packages).sort()).toEqual([
      '',
      'node_modules/@s/o',
      'node_modules/a',
      'node_modules/a/node_modules/b',
      'node_modules/d',
      'node_modules/p',
    ]);
    expect(pruned.packages['']).toEqual({ name: 'bundle', version: '0.1.0', dependencies: { a: '1' } });
    // registry tarball URLs filled in, so an offline `npm ci` needs no metadata
    expect(pruned.packages['node_modules/a/node_modules/b'].resolved).toBe(
      'https://registry.npmjs.org/b/-/b-2.0.0.tgz',
    );
    expect(pruned.packages['node_modules/@s/o'].resolved).toBe('https://registry.npmjs.org/@s/o/-/o-1.0.0.tgz');
    expect(pruned).toMatchObject({ name: 'bundle', version: '0.1.0', lockfileVersion: 3 });
  });

  it('refuses a v1 lockfile', () => {
    expect(() => pruneLockfile({ ...lock, lockfileVersion: 1 }, {}, 'x', '1')).toThrow(/v2 or v3/);
  });
});

describe('assertSafeBundlePath', () => {
  it.each(['app/dist/x.js', '.env.example', 'model/model.fp16.onnx', 'a/@scope/b'])('accepts %s', (p) =>
    expect(() => assertSafeBundlePath(p)).not.toThrow(),
  );
  it.each(['/etc/passwd', '../x', 'a/../b', 'a/./b', 'a//b', 'a/', 'a b', ''])('refuses %j', (p) =>
    expect(() => assertSafeBundlePath(p)).toThrow(/unsafe bundle path/),
  );
});
