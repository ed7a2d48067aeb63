/**
 * A command whose output is piped into `head` (or any reader that stops early) must stop quietly: the write fails
 * with EPIPE, which Node raises as an uncaught 'error' on process.stdout and crashes with a stack trace.
 */

/** Exit at once, with 0 as a Unix filter does, when stdout's reader has gone; other stdout errors are rethrown. */
export function exitQuietlyOnClosedStdout(stream: NodeJS.WriteStream = process.stdout, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      exit(0);
      return;
    }
    throw err;
  });
}
