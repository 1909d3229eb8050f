/**
 * The runbook's shell commands (OPERATIONS_RUNBOOK.md "Checking System Status", "Viewing Logs",
 * "Restarting Services") as SSH command templates. Every argument is validated and single-quoted
 * by the SSH adapter; host names never appear here (they come from the inventory).
 */
import { z } from 'zod';
import { defineRemoteCommand } from './adapters/ssh.js';

/** A systemd unit name as the inventory allows it. */
const unit = z.string().regex(/^[A-Za-z0-9@._-]+$/, 'must be a systemd unit name');
/** An absolute log path without traversal; callers take it from the inventory's service logs. */
const logFile = z
  .string()
  .regex(/^\/[A-Za-z0-9._/-]+$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
const lineCount = z.number().int().min(1).max(10_000);

/** `systemctl is-active UNIT`: exit 0 active, 3 inactive, 4 no such unit (all are answers, not failures). */
export const serviceIsActive = defineRemoteCommand({
  name: 'service-is-active',
  script: 'systemctl is-active {{unit}}',
  args: { unit },
  timeoutSec: 5,
  okExitCodes: [0, 3, 4],
});

/** The unit's main PID (0 when it is not running): proves a restart really replaced the process. */
export const serviceMainPid = defineRemoteCommand({
  name: 'service-main-pid',
  script: 'systemctl show -p MainPID --value {{unit}}',
  args: { unit },
  timeoutSec: 5,
});

/** `sudo systemctl restart UNIT` (runbook "Restarting Services"). */
export const serviceRestart = defineRemoteCommand({
  name: 'service-restart',
  script: 'sudo systemctl restart {{unit}}',
  args: { unit },
  timeoutSec: 60,
});

/** `sudo journalctl -u UNIT -n N --no-pager`. */
export const serviceJournal = defineRemoteCommand({
  name: 'service-journal',
  script: 'sudo journalctl -u {{unit}} -n {{lines}} --no-pager',
  args: { unit, lines: lineCount },
  timeoutSec: 5,
});

/** `tail -n N /var/log/qnwis/error.log | grep ERROR` (Scenario 1); grep's exit 1 means "no errors". */
export const errorLogErrors = defineRemoteCommand({
  name: 'error-log-errors',
  script: 'tail -n {{lines}} {{file}} | grep ERROR',
  args: { lines: lineCount, file: logFile },
  timeoutSec: 5,
  okExitCodes: [0, 1],
});

/** `free -b` (runbook Scenario 3 "Check memory usage", in bytes so nothing is lost to rounding). */
export const memoryFree = defineRemoteCommand({
  name: 'memory-free',
  script: 'free -b',
  args: {},
  timeoutSec: 5,
  maxOutputBytes: 64 * 1024,
});

/**
 * `ps -eo pid,rss,comm,args --sort=-rss | head -n N`: processes by resident memory, largest first,
 * with a header line (runbook Scenario 3 "Identify leaking process"). RSS is in KiB.
 */
export const processesByRss = defineRemoteCommand({
  name: 'processes-by-rss',
  script: 'ps -eo pid,rss,comm,args --sort=-rss | head -n {{lines}}',
  args: { lines: z.number().int().min(2).max(5_000) },
  timeoutSec: 5,
  maxOutputBytes: 512 * 1024,
});
