/**
 * memory — runbook Scenario 3, steps 1–2: `free -b` and the processes by resident memory
 * (`ps -eo pid,rss,comm,args --sort=-rss`) on one host, with the QNWIS app's workers
 * (uvicorn/gunicorn/qnwis) picked out. Thresholds follow the HighMemoryUsage alert (> 85 %).
 */
import { z } from 'zod';
import { memoryFree, processesByRss } from '../host-commands.js';
import {
  diagnose,
  formatBytes,
  hostNameSchema,
  oneLine,
  percent,
  plural,
  resolveHost,
  targetName,
} from './common.js';
import {
  type FreeOutput,
  isAppProcess,
  type ProcessRow,
  parseFreeOutput,
  parsePsOutput,
  usedFraction,
} from './proc-parse.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'memory';
const ROLES = ['app', 'db-primary', 'db-replica', 'redis', 'lb'] as const;
/** Processes read for the worker list (the top N by RSS are shown; workers are rarely below this). */
const PS_LINES = 400;

export const memoryInput = z.strictObject({
  /** Host name; default: the first app host. */
  target: hostNameSchema.optional(),
  /** Processes to list by RSS. */
  top: z.number().int().min(1).max(50).default(10),
});

export interface MemoryData {
  readonly totalBytes: number;
  readonly usedBytes: number;
  readonly availableBytes: number | undefined;
  /** (total − available) / total. */
  readonly usedFraction: number;
  readonly swap: FreeOutput['swap'];
  /** The largest processes by RSS, largest first. */
  readonly top: readonly ProcessRow[];
  /** The app's worker processes (uvicorn/gunicorn/qnwis), largest first. */
  readonly appProcesses: readonly ProcessRow[];
  readonly appRssBytes: number;
}

/** HighMemoryUsage: warn above 85 % used, error from 95 %. */
export function judgeMemory(fraction: number): DiagnosticStatus {
  if (fraction >= 0.95) return 'error';
  return fraction > 0.85 ? 'warn' : 'ok';
}

export const memory: Diagnostic<typeof memoryInput, MemoryData> = {
  name: NAME,
  title: 'Memory and top processes',
  runbook: 'free -b; ps -eo pid,rss,comm,args --sort=-rss | head -n 11',
  input: memoryInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const [free, ps] = await Promise.all([
        ctx.ssh.run(host, memoryFree, {}),
        ctx.ssh.run(host, processesByRss, { lines: PS_LINES }),
      ]);
      const mem = parseFreeOutput(free.stdout);
      const processes = parsePsOutput(ps.stdout);
      const app = processes.filter(isAppProcess);
      const fraction = usedFraction(mem.mem);
      const data: MemoryData = {
        totalBytes: mem.mem.totalBytes,
        usedBytes: mem.mem.usedBytes,
        availableBytes: mem.mem.availableBytes,
        usedFraction: fraction,
        swap: mem.swap,
        top: processes.slice(0, input.top),
        appProcesses: app,
        appRssBytes: app.reduce((n, p) => n + p.rssBytes, 0),
      };
      const [largest] = processes;
      const available =
        mem.mem.availableBytes !== undefined ? `, ${formatBytes(mem.mem.availableBytes)} available` : '';
      const parts = [
        `${host.name}: memory ${percent(fraction)} used (${formatBytes(mem.mem.usedBytes)} of ${formatBytes(mem.mem.totalBytes)}${available})`,
      ];
      if (largest) {
        parts.push(`top RSS: pid ${largest.pid} ${largest.comm} ${formatBytes(largest.rssBytes)}`);
      }
      if (app.length > 0) {
        parts.push(`${plural(app.length, 'app process', 'app processes')} ${formatBytes(data.appRssBytes)}`);
      } else if (host.roles.includes('app')) {
        parts.push('no uvicorn/qnwis process found');
      }
      return { status: judgeMemory(fraction), summary: oneLine(parts.join('; '), 400), data };
    });
  },
};
