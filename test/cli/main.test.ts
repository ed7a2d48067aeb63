import { describe, expect, it } from 'vitest';
import { runCli } from '../support/run-cli.js';

const COMMANDS = ['init', 'dev', 'serve', 'join', 'agents', 'call', 'token', 'send-event', 'emulator'];

describe('roomrunner (top level)', () => {
  it('lists each command with the summary from its own file under --help', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    for (const name of COMMANDS) {
      const { command } = (await import(`../../src/cli/${name}.ts`)) as { command: { summary: string } };
      expect(run.stdout).toMatch(new RegExp(`^  ${name} +${command.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
  }, 60_000);

  it('exits quietly with 0 from any command when the reader closes the pipe (token api-key | head -c 0)', async () => {
    // The read end is closed before the child has written anything, so its first write fails with EPIPE.
    const run = await runCli(['token', 'api-key', '--secret', 's'], { onSpawn: (child) => child.stdout?.destroy() });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  }, 60_000);
});
