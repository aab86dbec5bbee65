#!/usr/bin/env node
'use strict';
/**
 * Regenerates the typed SDK (libs/sdk) from the gateway's live OpenAPI document.
 *
 *   node scripts/generate-sdk.js              # builds, starts nats-server + the compiled gateway on free ports
 *   node scripts/generate-sdk.js --url URL    # takes the document of a running gateway instead
 *   node scripts/generate-sdk.js --check      # writes nothing; exits 1 when the committed SDK is stale
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const {
  documentFromCompiledGateway,
  fetchDocument,
  renderSdkFiles,
  staleSdkFiles,
  writeSdkFiles,
} = require('./lib/sdk-codegen');

async function main() {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const urlAt = args.indexOf('--url');
  let doc;
  if (urlAt >= 0) {
    doc = await fetchDocument(args[urlAt + 1]);
  } else {
    const root = path.resolve(__dirname, '..');
    const tsc = spawnSync('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    if (tsc.status !== 0) throw new Error('tsc failed');
    doc = await documentFromCompiledGateway();
  }
  const files = await renderSdkFiles(doc);
  const stale = staleSdkFiles(files);
  if (check) {
    if (stale.length) {
      console.error(
        `SDK is stale: ${stale.join(', ')} differ from the live document; run node scripts/generate-sdk.js`,
      );
      process.exit(1);
    }
    console.log('SDK matches the live document');
    return;
  }
  writeSdkFiles(files);
  const ops = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  console.log(
    `SDK regenerated from ${ops} operations${stale.length ? `: ${stale.join(', ')} changed` : ' (no change)'}`,
  );
}

main().catch((e) => {
  console.error(`generate-sdk failed: ${e.message}`);
  process.exit(1);
});
