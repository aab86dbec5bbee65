#!/usr/bin/env node
'use strict';
/**
 * What this host can run on its GPU, as cvp sees it: NVML's devices, onnxruntime-node's providers
 * (each loaded and run once, with the loader's exact error where one does not load), and the same
 * for the staged ONNX Runtime GPU build (scripts/gpu-ort.sh) through onnxruntime-node and through
 * the C API probe linked against it.
 *
 *   node scripts/gpu-discover.js [--out bench/results/gpu-discovery.json]
 *
 * Needs dist/ (npx tsc -p tsconfig.build.json). Never downloads: an unstaged GPU build is reported.
 */
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function main() {
  const i = process.argv.indexOf('--out');
  const out = i > 0 ? path.resolve(process.argv[i + 1] ?? '') : null;
  const { discoverProviders } = require(path.join(ROOT, 'dist/libs/measure/src/gpu-discovery.js'));
  const staged = spawnSync('bash', [path.join(ROOT, 'scripts/gpu-ort.sh'), 'dir'], { encoding: 'utf8' });
  const dir = staged.status === 0 ? staged.stdout.trim() : null;
  const report = {
    host: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg().map((l) => +l.toFixed(2)) },
    when: new Date().toISOString(),
    onnxruntimeNode: discoverProviders(),
    stagedGpuBuild: dir
      ? {
          dir,
          manifest: JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')),
          cProbe: JSON.parse(execFileSync(path.join(dir, 'bin/ort-gpu-probe'), { encoding: 'utf8' })),
          onnxruntimeNode: discoverProviders({ libraryDir: path.join(dir, 'lib') }),
        }
      : 'not staged (bash scripts/gpu-ort.sh stage)',
  };
  const text = JSON.stringify(report, null, 2) + '\n';
  if (out) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(`${out}.tmp`, text);
    fs.renameSync(`${out}.tmp`, out);
    process.stderr.write(`[gpu-discover] wrote ${out}\n`);
  } else process.stdout.write(text);
}

main();
