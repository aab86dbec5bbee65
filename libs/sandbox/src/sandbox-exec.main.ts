// Entry point of the sandbox launcher (see sandbox-exec.ts): `node sandbox-exec.main.js --spec FILE -- cmd...`.
import { runSandboxExec } from './sandbox-exec';

void runSandboxExec(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`sandbox-exec: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
