import { Command, Option } from 'commander';
import { registerAuthCommands } from './commands/auth.commands';
import { num, type Registry } from './commands/command';
import { registerDatasetCommands } from './commands/datasets.commands';
import { registerJobCommands } from './commands/jobs.commands';
import { registerModelCommands } from './commands/models.commands';
import { registerPipelineCommands } from './commands/pipeline.commands';
import { registerPlatformCommands } from './commands/platform.commands';
import { registerTuiCommand } from './tui/tui.command';

/** The `cvp` command tree (commander). Errors surface as exceptions; main() turns them into exit codes. */
export function buildProgram(reg: Registry): Command {
  const program = new Command('cvp');
  program
    .description('cvp: take a vision model from upload or training to a load-tested service')
    .version(reg.version, '-V, --version')
    .option('--url <url>', 'gateway (default: CVP_URL, else the logged-in one, else http://127.0.0.1:3000)')
    .addOption(new Option('--token <token>', 'access token or API key (default: CVP_TOKEN)').hideHelp())
    .option('--json', 'machine-readable output: one JSON value on stdout (errors as JSON on stderr)')
    .option('--no-color', 'no colour (also when NO_COLOR is set or stdout is not a terminal)')
    .option('--timeout <seconds>', 'per API call (default 30)', num('--timeout', { min: 1 }))
    .exitOverride()
    .configureOutput({
      writeOut: (s) => reg.io.stdout.write(s),
      writeErr: (s) => reg.io.stderr.write(s),
      // With --json, main() reports usage errors as JSON instead.
      outputError: (s, write) => (reg.json ? undefined : write(s)),
    })
    .addHelpText(
      'after',
      `
Getting started:
  cvp login -u admin                        then a session is kept and refreshed by itself
  cvp models preset yolov8n --watch         or: cvp models upload model.onnx --task detect --watch
  cvp bench --model ID --max-p95-ms 50 --max-accuracy-drop 0.02 --watch
  cvp deploy --model ID --engine selected --wait
  cvp infer photo.jpg --model ID
  cvp package --model ID --watch --download ./dist
  cvp tui                                   live dashboard

Every command takes --json. Exit codes: docs/cli.md.`,
    );
  registerAuthCommands(program, reg);
  registerModelCommands(program, reg);
  registerDatasetCommands(program, reg);
  registerPipelineCommands(program, reg);
  registerJobCommands(program, reg);
  registerPlatformCommands(program, reg);
  registerTuiCommand(program, reg);
  return program;
}
