'use strict';
const fs = require('node:fs');

module.exports = async () => {
  const ctx = globalThis.__CVP_TEST__;
  if (!ctx) return;
  await ctx.nats.stop();
  if (!process.env.CVP_KEEP_TEST_DIR) fs.rmSync(ctx.dir, { recursive: true, force: true });
};
