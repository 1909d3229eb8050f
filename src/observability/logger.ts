import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]". Anything that may carry a credential is listed here so a
 * secret can never reach a log line, whatever the call site logs (config objects, HTTP headers,
 * connection strings, request bodies).
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  '*.*.token',
  'secret',
  '*.secret',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'req.headers["x-slack-signature"]',
  'req.headers["x-pagerduty-signature"]',
  'config.DATABASE_URL',
  'config.REDIS_URL',
  'config.ALERTMANAGER_WEBHOOK_TOKEN',
  'privateKey',
  '*.privateKey',
  'connectionString',
  '*.connectionString',
];

export interface CreateLoggerOptions {
  level?: string;
  name?: string;
  /** Destination for tests that assert on log lines. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    name: opts.name ?? 'qnwis-chatops',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that discards everything; the default for adapters constructed in tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
