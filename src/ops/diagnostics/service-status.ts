/**
 * service-status — runbook "Checking System Status": `systemctl is-active <unit>` and
 * `journalctl -u <unit> -n 100 --no-pager` on one host. The unit comes from the inventory's service
 * for the host's role (qnwis on app hosts), never from the request.
 */
import { z } from 'zod';
import { serviceIsActive, serviceJournal } from '../host-commands.js';
import {
  diagnose,
  hostNameSchema,
  inventoryKeySchema,
  oneLine,
  resolveHost,
  resolveService,
  targetName,
} from './common.js';
import type { Diagnostic, DiagnosticContext, DiagnosticStatus } from './types.js';

export const serviceStatusInput = z.strictObject({
  /** Host name; default: the first app host. */
  target: hostNameSchema.optional(),
  /** Inventory service name; default: the first service on the host's roles (qnwis on app hosts). */
  service: inventoryKeySchema.optional(),
});

export interface ServiceStatusData {
  readonly service: string;
  readonly unit: string;
  /** What `systemctl is-active` printed: active, inactive, failed, activating, … */
  readonly state: string;
  /** 0 active, 3 not active, 4 no such unit. */
  readonly exitCode: number | null;
  /** The last 20 journal lines (of the 100 read). */
  readonly journal: readonly string[];
  /** Journal lines (of the 100) that look like failures: ERROR/CRITICAL, "Failed", "failed with result". */
  readonly journalProblemLines: number;
  /** Set when the journal could not be read (the state above still holds). */
  readonly journalError?: string;
}

const NAME = 'service-status';
const ROLES = ['app', 'db-primary', 'db-replica', 'redis', 'lb'] as const;
const JOURNAL_LINES = 100;
const JOURNAL_KEEP = 20;

/** Status from is-active: 0 → ok, transitional states → warn, 3 (inactive/failed) and 4 (no unit) → error. */
export function judgeServiceState(exitCode: number | null, state: string): DiagnosticStatus {
  if (exitCode === 0) return 'ok';
  if (/^(activating|reloading|deactivating|refreshing)$/.test(state)) return 'warn';
  return 'error';
}

export const serviceStatus: Diagnostic<typeof serviceStatusInput, ServiceStatusData> = {
  name: NAME,
  title: 'Service status and journal',
  runbook: 'systemctl is-active <unit>; sudo journalctl -u <unit> -n 100 --no-pager',
  input: serviceStatusInput,
  run(ctx: DiagnosticContext, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const service = resolveService(ctx.inventory, host, input.service);
      const [active, journal] = await Promise.allSettled([
        ctx.ssh.run(host, serviceIsActive, { unit: service.unit }),
        ctx.ssh.run(host, serviceJournal, { unit: service.unit, lines: JOURNAL_LINES }),
      ]);
      if (active.status === 'rejected') throw active.reason;
      const state = active.value.stdout.trim().split('\n')[0] || 'unknown';
      const exitCode = active.value.exitCode;
      const lines =
        journal.status === 'fulfilled' ? journal.value.stdout.split('\n').filter((l) => l.trim() !== '') : [];
      const problems = lines.filter((l) =>
        /\b(ERROR|CRITICAL)\b|\bFailed\b|failed with result|segfault|Out of memory|Killed process/.test(l),
      );
      const data: ServiceStatusData = {
        service: service.name,
        unit: service.unit,
        state,
        exitCode,
        journal: lines.slice(-JOURNAL_KEEP),
        journalProblemLines: problems.length,
        ...(journal.status === 'rejected'
          ? { journalError: oneLine(String((journal.reason as Error)?.message ?? journal.reason), 300) }
          : {}),
      };
      const status = judgeServiceState(exitCode, state);
      const last = lines.at(-1);
      let summary: string;
      if (exitCode === 4) {
        summary = `${host.name}: unit ${service.unit} not found (systemctl is-active exit 4)`;
      } else if (status === 'ok') {
        summary = `${host.name}: ${service.unit} is active; ${
          problems.length > 0
            ? `${problems.length} error/failure lines in the last ${JOURNAL_LINES} journal lines`
            : `no errors in the last ${JOURNAL_LINES} journal lines`
        }`;
      } else {
        summary = `${host.name}: ${service.unit} is ${state} (is-active exit ${exitCode ?? '?'})${
          last ? `; last journal line: ${oneLine(last, 140)}` : ''
        }`;
      }
      return { status, summary: oneLine(summary), data };
    });
  },
};
