/**
 * The `roomrunner` command. Each command lives in its own file and is loaded on demand, so `roomrunner
 * emulator` never loads the orchestrator and the other way round.
 */
export interface Command {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  emulator: async () => (await import('./emulator.js')).command,
  join: async () => (await import('./join.js')).command,
  agents: async () => (await import('./agents.js')).command,
  serve: async () => (await import('./serve.js')).command,
  dev: async () => (await import('./dev.js')).command,
  call: async () => (await import('./call.js')).command,
  'send-event': async () => (await import('./send-event.js')).command,
};

function usage(): string {
  const lines = Object.keys(COMMANDS).map((name) => `  roomrunner ${name}`);
  return ['usage: roomrunner <command> [flags]', '', 'commands:', ...lines, '', 'Run `roomrunner <command> --help` for its flags.'].join('\n');
}

/** Run the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`roomrunner: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}
