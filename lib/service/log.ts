/**
 * The service's structured log: one JSON object per line on stderr (pino), with `time`, `level` (a word),
 * `msg` and fields. What it never holds: a token, an input or output value, a URL's query string. The
 * functions a helper class needs take the small `Log` shape, so a test passes a recording one.
 */
import { pino, type Logger } from 'pino';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Log {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A JSON-lines log to `destination` (default: stderr, synchronous so nothing is lost on exit). */
export function jsonLog(options: { readonly level?: LogLevel; readonly destination?: NodeJS.WritableStream; readonly base?: LogFields } = {}): Log {
  const logger: Logger = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'karma', ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void =>
      fields ? logger[level](fields, msg) : logger[level](msg);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A log that keeps nothing. */
export const silentLog: Log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** The error's one line for a log field (never the stack: a message may already say too much). */
export function errorLine(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
