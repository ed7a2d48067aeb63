/**
 * pino loggers (docs/architecture.md §Style 14): static messages, ids in fields, child loggers per room and agent. Pretty
 * output when a person watches a terminal, JSON otherwise. Tokens, secrets and payloads never go into logs:
 * the redact list is a second line of defence, not the first.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export interface CreateLoggerOptions {
  level?: string;
  /** Force pretty (true) or JSON (false); default: pretty when stdout is a TTY. */
  pretty?: boolean;
  name?: string;
}

const REDACT = ['token', 'jwt', 'secret', 'apiKey', 'authorization', '*.token', '*.jwt', '*.secret', 'headers.authorization'];

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(options.name ? { name: options.name } : {}),
  };
  if (!pretty) return pino(base);
  return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
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
