// The `bitrot` command line: `bitrot <command> [args...]`. Each command lives in
// cli/commands/ and returns its exit status.

import { cpuTestsCommand, CPU_TESTS_USAGE } from './commands/cpu-tests.ts';
import { runCommand, RUN_USAGE } from './commands/run.ts';
import { bootCommand, BOOT_USAGE } from './commands/boot.ts';
import { replayCommand, REPLAY_USAGE } from './commands/replay.ts';

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string }> = {
  run: { run: runCommand, usage: RUN_USAGE },
  boot: { run: bootCommand, usage: BOOT_USAGE },
  replay: { run: replayCommand, usage: REPLAY_USAGE },
  'cpu-tests': { run: cpuTestsCommand, usage: CPU_TESTS_USAGE },
};

export const USAGE = ['usage: bitrot <command> [args...]', 'commands:', ...Object.values(COMMANDS).map((c) => `  ${c.usage.replace(/^usage: /, '')}`)].join('\n');

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`bitrot: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  try {
    return await cmd.run(args);
  } catch (e) {
    // A bug, not a user error: say so on one line; BITROT_DEBUG=1 shows the stack.
    if (process.env.BITROT_DEBUG) console.error(e);
    else console.error(`bitrot ${name}: internal error: ${(e as Error)?.message ?? String(e)} (set BITROT_DEBUG=1 for the stack trace)`);
    return 70;
  }
}
