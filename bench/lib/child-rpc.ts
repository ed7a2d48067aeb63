/** The child's half of bench/lib/child.ts: answer commands, exit on `exit` or when the parent goes away. */

export type Handler = (args: never) => unknown;

/**
 * Serves `handlers` over the IPC channel. `exit` runs `onExit` (if any), answers, then exits with code 0 so a
 * `--cpu-prof` profile gets written.
 */
export function serve(handlers: Record<string, Handler>, onExit?: () => unknown): void {
  if (typeof process.send !== 'function') throw new Error('bench child started without an IPC channel');
  const send = (message: unknown): void => {
    process.send?.(message);
  };
  process.on('message', (message: { id: number; cmd: string; args: unknown }) => {
    void (async () => {
      if (message.cmd === 'exit') {
        try {
          await onExit?.();
        } finally {
          send({ id: message.id, ok: true });
          setTimeout(() => process.exit(0), 20);
        }
        return;
      }
      const handler = handlers[message.cmd];
      if (!handler) {
        send({ id: message.id, ok: false, error: `unknown command ${message.cmd}` });
        return;
      }
      try {
        const result = await (handler as (args: unknown) => unknown)(message.args);
        send({ id: message.id, ok: true, result });
      } catch (error) {
        send({ id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

/** Parses `--name=value` flags of a child's argv. */
export function flag(name: string, fallback?: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}
