/**
 * Bolt's and @slack/socket-mode's logger interface over the bot's pino log, so their lines
 * (reconnects, missed pongs, refused tokens) land in the same JSON log with the same redaction
 * and level as everything else, never on the console. The level is the bot's LOG_LEVEL: Slack's
 * `setLevel` is ignored.
 */
import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';
import type { Logger } from '../observability/logger.js';

function text(parts: unknown[]): string {
  return parts
    .map((p) => (typeof p === 'string' ? p : p instanceof Error ? p.message : JSON.stringify(p)))
    .join(' ');
}

export function slackLoggerFor(log: Logger): SlackLogger {
  return {
    debug: (...msg: unknown[]) => log.debug(text(msg)),
    info: (...msg: unknown[]) => log.info(text(msg)),
    warn: (...msg: unknown[]) => log.warn(text(msg)),
    error: (...msg: unknown[]) => log.error(text(msg)),
    setLevel: () => {},
    getLevel: () => {
      if (log.isLevelEnabled('debug')) return LogLevel.DEBUG;
      if (log.isLevelEnabled('info')) return LogLevel.INFO;
      if (log.isLevelEnabled('warn')) return LogLevel.WARN;
      return LogLevel.ERROR;
    },
    setName: () => {},
  };
}
