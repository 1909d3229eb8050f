/**
 * error-log — runbook Scenario 1, steps 1–2: `tail -n 500 /var/log/qnwis/error.log | grep ERROR`
 * on one host, the lines grouped into patterns (log-patterns.ts) and counted, most frequent first
 * with one example each. The file path comes from the inventory's service logs (`log` names the
 * kind: error, app, audit, …), never from the request.
 */
import { z } from 'zod';
import { errorLogErrors } from '../host-commands.js';
import {
  diagnose,
  formatDuration,
  hostNameSchema,
  inventoryKeySchema,
  oneLine,
  plural,
  resolveHost,
  resolveService,
  targetName,
} from './common.js';
import { groupLogLines, type LogPattern } from './log-patterns.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'error-log';
const ROLES = ['app', 'lb', 'db-primary', 'db-replica', 'redis'] as const;

export const errorLogInput = z.strictObject({
  /** Host name; default: the first app host. */
  target: hostNameSchema.optional(),
  /** Which of the service's logs (inventory `services.<name>.logs`); default "error". */
  log: inventoryKeySchema.default('error'),
  /** Inventory service name; default: the first service on the host that has that log. */
  service: inventoryKeySchema.optional(),
  /** How many lines of the file's tail to search (runbook: 500). */
  lines: z.number().int().min(1).max(10_000).default(500),
  /** Patterns to return. */
  top: z.number().int().min(1).max(50).default(10),
  /** "Recent" window for the status, minutes. */
  recentMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(5),
});

export interface ErrorLogData {
  readonly service: string;
  readonly file: string;
  /** Lines of the file's tail searched. */
  readonly linesSearched: number;
  readonly errorLines: number;
  /** ERROR lines written within `recentMinutes` (lines without a time count as recent). */
  readonly recentErrorLines: number;
  readonly recentMinutes: number;
  readonly newestAt: string | undefined;
  readonly distinctPatterns: number;
  readonly patterns: readonly LogPattern[];
  /** ERROR lines whose pattern is not in `patterns`. */
  readonly otherLines: number;
  /** The output exceeded the SSH output cap and was cut: counts are a lower bound. */
  readonly truncated: boolean;
}

/** Status from the recent error count: none → ok, some → warn, at least `errorAt` → error. */
export function judgeErrorLog(recentErrorLines: number, errorAt = 50): DiagnosticStatus {
  if (recentErrorLines >= errorAt) return 'error';
  return recentErrorLines > 0 ? 'warn' : 'ok';
}

export const errorLog: Diagnostic<typeof errorLogInput, ErrorLogData> = {
  name: NAME,
  title: 'Error log patterns',
  runbook: 'sudo tail -n 500 /var/log/qnwis/error.log | grep ERROR',
  input: errorLogInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const service = resolveService(
        ctx.inventory,
        host,
        input.service,
        (s) => Object.hasOwn(s.logs, input.log),
        `service with a log named "${input.log}"`,
      );
      const file = service.logs[input.log];
      if (file === undefined) throw new Error(`${service.name} has no ${input.log} log`);
      const res = await ctx.ssh.run(host, errorLogErrors, { lines: input.lines, file });
      // grep exits 1 for "no match" and for an empty input alike: a missing file shows on stderr.
      const stderr = res.stderr.trim();
      if (res.exitCode === 1 && stderr !== '') {
        return {
          status: 'error',
          summary: oneLine(`${host.name}: cannot read ${file}: ${stderr}`),
          error: oneLine(stderr, 400),
        };
      }
      const since = new Date(ctx.now().getTime() - input.recentMinutes * 60_000);
      const grouped = groupLogLines(res.stdout.split('\n'), { top: input.top, since });
      const data: ErrorLogData = {
        service: service.name,
        file,
        linesSearched: input.lines,
        errorLines: grouped.lines,
        recentErrorLines: grouped.recentLines,
        recentMinutes: input.recentMinutes,
        newestAt: grouped.newestAt,
        distinctPatterns: grouped.distinct,
        patterns: grouped.patterns,
        otherLines: grouped.otherLines,
        truncated: res.truncated,
      };
      if (grouped.lines === 0) {
        return {
          status: 'ok',
          summary: `${host.name}: no ERROR lines in the last ${input.lines} lines of ${file}`,
          data,
        };
      }
      const [topPattern] = grouped.patterns;
      const newest = grouped.newestAt
        ? `, newest ${formatDuration(Math.max(0, ctx.now().getTime() - Date.parse(grouped.newestAt)))} ago`
        : '';
      const recent =
        grouped.recentLines === grouped.lines
          ? ''
          : ` (${grouped.recentLines} in the last ${input.recentMinutes} min)`;
      const summary =
        `${host.name}: ${plural(grouped.lines, 'ERROR line')}${recent} in the last ${input.lines} lines of ${file}${newest}` +
        `, ${plural(grouped.distinct, 'pattern')}; top: '${oneLine(topPattern?.pattern ?? '', 120)}' ×${topPattern?.count ?? 0}`;
      return { status: judgeErrorLog(grouped.recentLines), summary: oneLine(summary, 400), data };
    });
  },
};
