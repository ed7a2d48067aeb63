/**
 * The `roomrunner` command. Each command lives in its own file and is loaded on demand, so `roomrunner
 * emulator` never loads the orchestrator and the other way round.
 */
import { exitQuietlyOnClosedStdout } from './stdout.js';

export interface Command {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./init.js')).command,
  dev: async () => (await import('./dev.js')).command,
  serve: async () => (await import('./serve.js')).command,
  join: async () => (await import('./join.js')).command,
  agents: async () => (await import('./agents.js')).command,
  call: async () => (await import('./call.js')).command,
  token: async () => (await import('./token.js')).command,
  'send-event': async () => (await import('./send-event.js')).command,
  emulator: async () => (await import('./emulator.js')).command,
};

/**
 * The top-level help. It loads every command for its summary (only here), so each summary is written once, in
 * the command's own file, and cannot drift from what `--help` shows.
 */
async function usage(): Promise<string> {
  const entries = await Promise.all(Object.entries(COMMANDS).map(async ([name, load]) => [name, (await load()).summary] as const));
  const width = Math.max(...entries.map(([name]) => name.length));
  const lines = entries.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`);
  return ['usage: roomrunner <command> [flags]', '', 'commands:', ...lines, '', 'Run `roomrunner <command> --help` for its flags.'].join('\n');
}

/** Run the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // `roomrunner <any command> | head -1`: a reader that stops early is its choice, not a failure.
  exitQuietlyOnClosedStdout();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`roomrunner: unknown command "${name}"\n\n${await usage()}`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}
