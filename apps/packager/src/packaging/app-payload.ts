import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { builtinModules } from 'node:module';
import { type BundleFile, copiedFile, textFile } from './bundle-file';

/**
 * Where the bundle keeps the data plane. The entrypoint starts the inference app's standalone
 * entry (apps/inference/src/static-repository/standalone.main.ts): the same KServe module and
 * engines as the platform's inference service, no NATS, the model deployed from a file.
 */
export const APP_DIR = 'app';
export const INFERENCE_ENTRY = 'apps/inference/src/static-repository/standalone.main.js';
export const INFERENCE_MAIN = `${APP_DIR}/dist/${INFERENCE_ENTRY}`;

export class PlatformBuildMissingError extends Error {
  override name = 'PlatformBuildMissingError';
}

interface LockEntry {
  version?: string;
  resolved?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [k: string]: unknown;
}
interface Lockfile {
  name?: string;
  version?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}
interface RootPackageJson {
  version?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
}

async function listJs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listJs(p)));
    else if (e.isFile() && e.name.endsWith('.js')) out.push(p);
  }
  return out;
}

const REQUIRE_RE = /\b(?:require(?:\.resolve)?|import)\(\s*["']([^"'./][^"']*)["']\s*\)/g;

/**
 * Packages loaded by name at run time (invisible to the scan): NestFactory loads the HTTP
 * adapter with loadPackage('@nestjs/platform-express').
 */
const IMPLICIT_PACKAGES: Record<string, string[]> = { '@nestjs/core': ['@nestjs/platform-express'] };

/**
 * The platform's lockfile omits `resolved` (omit-lockfile-registry-resolved), which makes npm fetch
 * package metadata even with --offline. Registry tarball URLs are a function of name and version,
 * so the bundle's lock carries them: `npm ci --offline` then needs only the cached tarballs.
 */
export function registryTarballUrl(name: string, version: string): string {
  const base = name.startsWith('@') ? name.split('/')[1] : name;
  return `https://registry.npmjs.org/${name}/-/${base}-${version}.tgz`;
}
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Bare module specifiers (`require("x")`, `require.resolve("x")`, `import("x")`) of compiled JS, as package names. */
export function requiredPackages(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(REQUIRE_RE)) {
    const spec = m[1];
    if (builtins.has(spec) || spec.startsWith('node:')) continue;
    const parts = spec.split('/');
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
  }
  return [...names];
}

const parentOf = (key: string): string => {
  const i = key.lastIndexOf('/node_modules/');
  return i < 0 ? '' : key.slice(0, i);
};

/** Node's lookup in a v2/v3 lockfile: nearest node_modules/<name> from `from` upwards. */
function resolveInLock(lock: Lockfile, from: string, name: string): string | undefined {
  for (let at = from; ; at = parentOf(at)) {
    const key = `${at ? `${at}/` : ''}node_modules/${name}`;
    if (lock.packages[key]) return key;
    if (!at) return undefined;
  }
}

/**
 * The lockfile cut down to what `roots` need (dependencies, optional and peer dependencies,
 * transitively), so `npm ci --omit=dev` in the bundle installs exactly the data plane's
 * production tree at the platform's locked versions, and nothing else.
 */
export function pruneLockfile(lock: Lockfile, roots: Record<string, string>, name: string, version: string): Lockfile {
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json v2 or v3 required');
  const keep = new Set<string>();
  const queue: [string, string][] = Object.keys(roots).map((n) => ['', n]);
  while (queue.length) {
    const [from, dep] = queue.shift()!;
    const key = resolveInLock(lock, from, dep);
    if (!key || keep.has(key)) continue;
    keep.add(key);
    const e = lock.packages[key];
    // Optional peers (e.g. @nestjs/core -> @nestjs/microservices) are not installed by npm unless required elsewhere.
    const peers = Object.keys(e.peerDependencies ?? {}).filter((p) => !e.peerDependenciesMeta?.[p]?.optional);
    for (const d of [...Object.keys({ ...e.dependencies, ...e.optionalDependencies }), ...peers]) queue.push([key, d]);
  }
  const packages: Record<string, LockEntry> = { '': { name, version, dependencies: { ...roots } } };
  for (const key of [...keep].sort()) {
    const e = lock.packages[key];
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[key] = e.resolved || e.link || !e.version ? e : { ...e, resolved: registryTarballUrl(name, e.version) };
  }
  return { name, version, lockfileVersion: lock.lockfileVersion, requires: true, packages };
}

/**
 * @cvp/* resolution for the compiled code without tsconfig-paths: the bundle carries no
 * dependency it does not need.
 */
const REGISTER_PATHS = `'use strict';
// Resolves @cvp/<lib> imports of the compiled data plane to dist/libs/<lib>/src (what tsconfig
// paths do at build time), with no dependency.
const Module = require('node:module');
const path = require('node:path');
const libs = path.join(__dirname, 'dist', 'libs');
const original = Module._resolveFilename;
Module._resolveFilename = function (request, parent, isMain, options) {
  if (request.startsWith('@cvp/')) {
    const [lib, ...rest] = request.slice(5).split('/');
    request = path.join(libs, lib, 'src', ...rest);
  }
  return original.call(this, request, parent, isMain, options);
};
`;

/**
 * The data plane as the bundle carries it: compiled JS of apps/inference and every @cvp lib it
 * reaches, a package.json with only the npm packages that code requires (at the platform's
 * pinned versions) and a lockfile pruned to them.
 */
export async function collectAppPayload(
  platformRoot: string,
): Promise<{ files: BundleFile[]; dependencies: Record<string, string> }> {
  const dist = path.join(platformRoot, 'dist');
  const main = path.join(dist, INFERENCE_ENTRY);
  if (!existsSync(main))
    throw new PlatformBuildMissingError(
      `compiled data plane missing at ${main}: run \`npm run build\` on the platform first`,
    );
  const rootPkg = JSON.parse(await readFile(path.join(platformRoot, 'package.json'), 'utf8')) as RootPackageJson;
  const lock = JSON.parse(await readFile(path.join(platformRoot, 'package-lock.json'), 'utf8')) as Lockfile;

  // Walk from the inference app through the @cvp libs it requires.
  const dirs = [path.join(dist, 'apps/inference')];
  const seenLibs = new Set<string>();
  const packages = new Set<string>();
  const files: BundleFile[] = [];
  for (let i = 0; i < dirs.length; i++) {
    for (const js of (await listJs(dirs[i])).sort()) {
      const text = await readFile(js, 'utf8');
      for (const pkg of requiredPackages(text)) {
        if (pkg.startsWith('@cvp/')) {
          const lib = pkg.slice(5);
          const libDir = path.join(dist, 'libs', lib);
          if (!seenLibs.has(lib)) {
            seenLibs.add(lib);
            if (!existsSync(libDir))
              throw new PlatformBuildMissingError(
                `compiled lib @cvp/${lib} missing at ${libDir}: run \`npm run build\``,
              );
            dirs.push(libDir);
          }
        } else packages.add(pkg);
      }
      const rel = path.relative(dist, js).split(path.sep).join('/');
      // Spec files never reach dist (tsconfig.build excludes them); test helpers do not belong in a bundle either.
      if (!rel.includes('/testing/')) files.push(copiedFile(`${APP_DIR}/dist/${rel}`, js));
    }
  }
  for (const [trigger, implied] of Object.entries(IMPLICIT_PACKAGES))
    if (packages.has(trigger)) implied.forEach((p) => packages.add(p));
  const dependencies: Record<string, string> = {};
  const missing: string[] = [];
  for (const p of [...packages].sort()) {
    const v = rootPkg.dependencies?.[p];
    if (v) dependencies[p] = v;
    else missing.push(p);
  }
  if (missing.length)
    throw new PlatformBuildMissingError(
      `the data plane requires packages that are not production dependencies of the platform: ${missing.join(', ')}`,
    );

  const name = 'cvp-inference-bundle';
  const version = rootPkg.version ?? '0.0.0';
  const pkgJson = {
    name,
    version,
    private: true,
    description: 'cvp inference data plane, as bundled by the packager (production dependencies only)',
    engines: rootPkg.engines,
    dependencies,
  };
  files.push(textFile(`${APP_DIR}/package.json`, `${JSON.stringify(pkgJson, null, 2)}\n`));
  files.push(
    textFile(
      `${APP_DIR}/package-lock.json`,
      `${JSON.stringify(pruneLockfile(lock, dependencies, name, version), null, 2)}\n`,
    ),
  );
  files.push(
    textFile(
      `${APP_DIR}/.npmrc`,
      '# the CPU library ships inside onnxruntime-node; CUDA images lay the GPU build from PyPI over it (gpu-ort/)\nonnxruntime-node-install=skip\nfund=false\naudit=false\n',
    ),
  );
  files.push(textFile(`${APP_DIR}/register-paths.js`, REGISTER_PATHS));
  // libs/native-client finds the proto by walking up from its compiled folder to libs/contracts/proto.
  const proto = path.join(platformRoot, 'libs/contracts/proto/cvp_inference.proto');
  if (seenLibs.has('native-client') && existsSync(proto))
    files.push(copiedFile(`${APP_DIR}/libs/contracts/proto/cvp_inference.proto`, proto));
  return { files, dependencies };
}

/** Native core sources for the image's build stage (no tests, no benchmarks). */
export async function collectNativeSources(platformRoot: string): Promise<BundleFile[]> {
  const native = path.join(platformRoot, 'native');
  const proto = path.join(platformRoot, 'libs/contracts/proto/cvp_inference.proto');
  if (!existsSync(path.join(native, 'CMakeLists.txt')) || !existsSync(proto)) {
    throw new PlatformBuildMissingError(`native core sources missing under ${native}`);
  }
  const files: BundleFile[] = [
    copiedFile('native/CMakeLists.txt', path.join(native, 'CMakeLists.txt')),
    copiedFile('native/proto/cvp_inference.proto', proto),
  ];
  const fetchHeaders = path.join(native, 'scripts/fetch-ort-headers.sh');
  if (existsSync(fetchHeaders)) files.push(copiedFile('native/scripts/fetch-ort-headers.sh', fetchHeaders, true));
  const src = path.join(native, 'src');
  for (const e of (await readdir(src, { withFileTypes: true }))
    .filter((d) => d.isFile())
    .sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (/\.(cpp|hpp|h|cc)$/.test(e.name)) files.push(copiedFile(`native/src/${e.name}`, path.join(src, e.name)));
  }
  return files;
}

/**
 * The platform's way to ONNX Runtime's GPU build (hash-pinned PyPI wheels, staged into one
 * self-contained library folder), for the CUDA image's gpu-ort stage: the script, its locks and
 * the probe it checks the build with, under gpu-ort/ in the repository's own layout.
 */
export const GPU_ORT_FILES = [
  'scripts/gpu-ort.sh',
  'scripts/lib/gpu-ort.lock',
  'scripts/lib/ort-gpu-probe.c',
  'deploy/cuda-libs.lock',
  'native/scripts/fetch-ort-headers.sh',
] as const;

export function collectGpuOrtFiles(platformRoot: string): BundleFile[] {
  return GPU_ORT_FILES.map((rel) => {
    const p = path.join(platformRoot, rel);
    if (!existsSync(p))
      throw new PlatformBuildMissingError(`${rel} missing under ${platformRoot} (the CUDA image needs it)`);
    return copiedFile(`gpu-ort/${rel}`, p, rel.endsWith('.sh'));
  });
}
