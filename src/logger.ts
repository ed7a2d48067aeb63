/**
 * pino loggers (docs/architecture.md §Style 14): static messages, ids in fields, child loggers per room and agent. Pretty
 * output when a person watches a terminal, JSON otherwise. Tokens, secrets and payloads never go into logs:
 * the redact list is a second line of defence, not the first.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export interface CreateLoggerOptions {
  level?: string;
  /** Force pretty (true) or JSON (false); default: pretty when the destination is a TTY. A file gets JSON. */
  pretty?: boolean;
  name?: string;
  /** Where the lines go: a file descriptor (default 1, stdout) or a file path (appended to, folders created). */
  destination?: number | string;
}

const REDACT = ['token', 'jwt', 'secret', 'apiKey', 'authorization', '*.token', '*.jwt', '*.secret', 'headers.authorization'];

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const destination = options.destination ?? 1;
  const pretty = typeof destination === 'string' ? false : (options.pretty ?? Boolean(destination === 2 ? process.stderr.isTTY : process.stdout.isTTY));
  const base: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(options.name ? { name: options.name } : {}),
  };
  if (!pretty) {
    if (destination === 1) return pino(base);
    return pino(base, pino.destination(typeof destination === 'string' ? { dest: destination, append: true, mkdir: true } : { dest: destination }));
  }
  return pino({
    ...base,
    transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', destination } },
  });
}

/** A logger that drops everything: the default for library objects nobody gave a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * `logger` with `fields` bound: a child only for the fields it does not already carry with the same value (pino's
 * `bindings()`), so a logger handed down with `{ room }` bound is used as it is rather than binding it twice.
 */
export function withBindings(logger: Logger, fields: Record<string, unknown>): Logger {
  const bound: Record<string, unknown> = typeof logger.bindings === 'function' ? logger.bindings() : {};
  let missing: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || bound[key] === value) continue;
    missing ??= {};
    missing[key] = value;
  }
  return missing ? logger.child(missing) : logger;
}
