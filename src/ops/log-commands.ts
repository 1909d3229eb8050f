/**
 * The runbook's read-only log commands ("Viewing Logs", "Security Monitoring") as SSH templates for
 * `/qnwis logs` and `/qnwis security`. Every value is validated here (again: the parser already
 * did) and substituted single-quoted by the SSH adapter; the search text is always `-e PATTERN`
 * to `grep -F`, so it is one fixed string even when it starts with "-". The file always comes from
 * the inventory, never from what a person typed.
 */
import { z } from 'zod';
import {
  defineRemoteCommand,
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  renderRemoteScript,
} from './adapters/ssh.js';

/** Bounds of `/qnwis logs --lines N`. */
export const LOG_LINES = { min: 1, max: 1000, default: 100 } as const;
/** Longest `--grep` text. */
export const GREP_MAX_LENGTH = 200;

/** An absolute log path from the inventory, without traversal. */
const logFile = z
  .string()
  .regex(/^\/[A-Za-z0-9._/-]+$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
const lines = z.number().int().min(LOG_LINES.min).max(LOG_LINES.max);
/** A fixed search string: bounded, no control/format characters (see parse.ts). */
const pattern = z
  .string()
  .min(1)
  .max(GREP_MAX_LENGTH)
  .refine((s) => !/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(s), 'must not contain control characters');

/** Each log line is at most a few KiB; 1000 of them fit with room. */
const MAX_OUTPUT = 2 * 1024 * 1024;

/** `tail -n N FILE` (runbook: "sudo tail -n 1000 /var/log/qnwis/error.log"). */
export const logTail = defineRemoteCommand({
  name: 'log-tail',
  script: 'tail -n {{lines}} {{file}}',
  args: { lines, file: logFile },
  timeoutSec: 5,
  maxOutputBytes: MAX_OUTPUT,
});

/**
 * `tail -n N FILE | grep -F -e PATTERN`: the last N lines, only those containing PATTERN. grep's
 * exit 1 means "no line matched", an answer.
 */
export const logTailGrep = defineRemoteCommand({
  name: 'log-tail-grep',
  script: 'tail -n {{lines}} {{file}} | grep -F -e {{pattern}}',
  args: { lines, file: logFile, pattern },
  timeoutSec: 5,
  okExitCodes: [0, 1],
  maxOutputBytes: MAX_OUTPUT,
  allowLeadingDash: ['pattern'],
});

/**
 * `grep -F -e PATTERN FILE | tail -n N` (runbook "Security Monitoring": `grep "authentication
 * failed" audit.log | tail -n 100`): the last N matching lines of the whole file.
 */
export const logGrepTail = defineRemoteCommand({
  name: 'log-grep-tail',
  script: 'grep -F -e {{pattern}} {{file}} | tail -n {{lines}}',
  args: { lines, file: logFile, pattern },
  timeoutSec: 5,
  maxOutputBytes: MAX_OUTPUT,
  allowLeadingDash: ['pattern'],
});

/** The script exactly as the host runs it (values single-quoted): shown to people with the output. */
export function logScript<S extends RemoteArgsShape>(
  command: RemoteCommand<S>,
  args: RemoteCommandArgs<S>,
): string {
  return renderRemoteScript(command, args);
}
