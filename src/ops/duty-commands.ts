/**
 * Remote reads of the scheduled duties (issue 7, item 6), as SSH templates like every other
 * command on a host: the daily error-log review reads each error log's last lines. The backup check
 * reuses `backupList` (src/ops/commands/backup.ts).
 */
import { z } from 'zod';
import { defineRemoteCommand } from './adapters/ssh.js';

/** An absolute log path from the inventory, without traversal. */
const logFile = z
  .string()
  .regex(/^\/[A-Za-z0-9._/-]+$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');

/** Largest read of one log, bytes: a day of a busy error log, kept from the end. */
export const ERROR_LOG_REVIEW_BYTES = 4 * 1024 * 1024;
/** Exit status of `errorLogWindow` when the file does not exist (nothing logged there yet). */
export const NO_SUCH_LOG = 3;

/**
 * `tail -n LINES FILE | tail -c BYTES`: the file's last lines, at most BYTES of them counted from
 * the end, so a cap drops the oldest lines (never the newest, as a cut of the output stream
 * would). Exit 3 when the file does not exist. The first line may be cut when BYTES bit.
 */
export const errorLogWindow = defineRemoteCommand({
  name: 'error-log-window',
  script: [
    'if [ ! -e {{file}} ]; then echo "no such file" >&2; exit 3; fi',
    'tail -n {{lines}} {{file}} | tail -c {{bytes}}',
  ].join('\n'),
  args: {
    file: logFile,
    lines: z.number().int().min(1).max(100_000),
    bytes: z.number().int().min(1024).max(ERROR_LOG_REVIEW_BYTES),
  },
  timeoutSec: 30,
  okExitCodes: [0, NO_SUCH_LOG],
  maxOutputBytes: ERROR_LOG_REVIEW_BYTES + 64 * 1024,
});
