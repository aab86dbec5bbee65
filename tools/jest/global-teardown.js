'use strict';
const fs = require('node:fs');

module.exports = async () => {
  const ctx = globalThis.__CVP_TEST__;
  if (!ctx) return;
  const keep = !!process.env.CVP_KEEP_TEST_DIR;
  try {
    await ctx.nats.stop();
  } finally {
    await ctx.pg?.destroy({ keepDir: keep });
  }
  if (!keep) fs.rmSync(ctx.dir, { recursive: true, force: true });
};
