/**
 * `/qnwis audit`: the newest entries of the hash-chained audit trail, optionally of one person or
 * since a time. Reads only; checking the chain itself is `npm run audit -- verify` (it walks the
 * whole table, too slow for a slash command's deadline on a long trail).
 */
import { UserFacingError } from '../../../errors.js';
import type { AuditTrailRow } from '../../../store/audit-trail.js';
import type { CommandEnv } from '../env.js';
import type { QnwisCommand } from '../parse.js';
import { AUDIT_LIST_LIMIT } from '../usage.js';

export interface AuditListing {
  /** Newest first, at most AUDIT_LIST_LIMIT. */
  readonly rows: readonly AuditTrailRow[];
  /** More entries match than are shown. */
  readonly more: boolean;
  readonly userId: string | null;
  readonly since: Date | null;
  readonly sinceSec: number | null;
}

export async function listAudit(
  command: Extract<QnwisCommand, { verb: 'audit' }>,
  env: CommandEnv,
): Promise<AuditListing> {
  if (!env.auditTrail) throw new UserFacingError('The audit trail is not available in this bot.');
  const since = command.sinceSec === null ? null : new Date(env.now().getTime() - command.sinceSec * 1000);
  const rows = await env.auditTrail.list({
    ...(command.userId ? { userId: command.userId } : {}),
    ...(since ? { since } : {}),
    limit: AUDIT_LIST_LIMIT + 1,
  });
  return {
    rows: rows.slice(0, AUDIT_LIST_LIMIT),
    more: rows.length > AUDIT_LIST_LIMIT,
    userId: command.userId,
    since,
    sinceSec: command.sinceSec,
  };
}
