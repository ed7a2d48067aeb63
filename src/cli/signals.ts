/**
 * Shutdown signals for long-running commands: the first SIGINT/SIGTERM starts a graceful stop; a second one
 * exits at once (130 for SIGINT, 143 for SIGTERM), as a person pressing Ctrl-C twice expects.
 */
const EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** Resolves with the name of the first SIGINT or SIGTERM; a second signal exits the process immediately. */
export function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const force = (second: NodeJS.Signals): void => {
        process.stderr.write(`roomrunner: second ${second}, exiting now\n`);
        process.exit(EXIT_CODES[second] ?? 1);
      };
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * In a long-running command, a promise an agent leaked and that later rejects must not take every room in the
 * process down (Node's default is to exit). Log it at error level, with its message, and keep serving.
 */
export function logUnhandledRejections(logger: { error(fields: object, message: string): void }): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection (an agent probably started a promise it did not await); still serving');
  });
}
