/**
 * `/qnwis logs HOST [LOG] [--grep TEXT] [--lines N]` (runbook "Viewing Logs"): `tail -n N FILE`, or
 * `tail -n N FILE | grep -F -e TEXT`, on the host over SSH. The file is the inventory's; the
 * search text travels as one single-quoted argument of a command template.
 */

import {
  InvalidArgumentError,
  QnwisError,
  SshAuthError,
  SshExitError,
  SshHostKeyMismatchError,
  SshTimeoutError,
  SshUnreachableError,
  UserFacingError,
} from '../../../errors.js';
import { getHost } from '../../../inventory.js';
import { logScript, logTail, logTailGrep } from '../../../ops/log-commands.js';
import type { CommandEnv } from '../env.js';
import { hostLogFiles, type QnwisCommand } from '../parse.js';

export interface LogsReport {
  readonly host: string;
  readonly log: string;
  readonly file: string;
  readonly grep: string | null;
  readonly lines: number;
  /** The script as the host ran it (values quoted). */
  readonly script: string;
  readonly output: readonly string[];
  /** What the host printed on stderr (e.g. "tail: cannot open …"), if anything. */
  readonly stderr: string;
  /** The host's output exceeded the adapter's cap and was cut. */
  readonly outputCut: boolean;
  /** Why nothing could be read (unreachable, timed out, …); the output is then empty. */
  readonly problem: string | null;
  readonly durationMs: number;
}

type LogsCommand = Extract<QnwisCommand, { verb: 'logs' }>;

export async function fetchLogs(cmd: LogsCommand, env: CommandEnv): Promise<LogsReport> {
  const host = getHost(env.inventory, cmd.host);
  const file = hostLogFiles(env.inventory, host.name).get(cmd.log);
  if (!file) throw new UserFacingError(`${host.name} has no log "${cmd.log}" in the inventory`);
  const started = performance.now();
  const base = { host: host.name, log: cmd.log, file, grep: cmd.grep, lines: cmd.lines };
  const run =
    cmd.grep === null
      ? {
          script: logScript(logTail, { lines: cmd.lines, file }),
          exec: () => env.diagnostics.ssh.run(host, logTail, { lines: cmd.lines, file }),
        }
      : {
          script: logScript(logTailGrep, { lines: cmd.lines, file, pattern: cmd.grep }),
          exec: () =>
            env.diagnostics.ssh.run(host, logTailGrep, {
              lines: cmd.lines,
              file,
              pattern: cmd.grep as string,
            }),
        };
  try {
    const result = await run.exec();
    return {
      ...base,
      script: run.script,
      output: splitLines(result.stdout),
      stderr: result.stderr.trim(),
      outputCut: result.truncated,
      problem: null,
      durationMs: Math.round(performance.now() - started),
    };
  } catch (err) {
    return {
      ...base,
      script: run.script,
      output: [],
      stderr: '',
      outputCut: false,
      problem: problemOf(err),
      durationMs: Math.round(performance.now() - started),
    };
  }
}

export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * A host-side failure as a sentence for the person; anything else (a bug: bad template arguments)
 * is re-thrown so it becomes "something went wrong (ref …)".
 */
export function problemOf(err: unknown): string {
  if (err instanceof InvalidArgumentError || !(err instanceof QnwisError)) throw err;
  if (err instanceof SshUnreachableError)
    return `unreachable over SSH (${err.message.replace(/^ssh to host "[^"]*": /, '')})`;
  if (err instanceof SshTimeoutError) return `did not answer in time (${err.timeoutSec} s)`;
  if (err instanceof SshExitError) {
    return `the command failed (exit ${err.exitCode ?? err.signal ?? '?'})${err.stderrExcerpt.trim() ? `: ${err.stderrExcerpt.trim()}` : ''}`;
  }
  if (err instanceof SshAuthError || err instanceof SshHostKeyMismatchError) return err.message;
  throw err;
}
