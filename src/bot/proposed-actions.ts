/**
 * Clicks on a playbook's proposed fixes. Until approved commands exist ("Act with approval"), the
 * button says exactly what it would run and which approval the runbook's policy needs; nothing
 * changes a host.
 */
import { z } from 'zod';

export const proposedActionValue = z.object({
  key: z.string().regex(/^QNWIS-\d+$/),
  command: z.enum(['restart', 'rolling-restart', 'kill-query', 'warm-cache', 'failover', 'flush-cache']),
  target: z.string().min(1).max(64),
});

export type ProposedActionValue = z.infer<typeof proposedActionValue>;

/** The approval each command will need (the default policy of the "Act with approval" issue). */
const APPROVAL: Readonly<Record<ProposedActionValue['command'], string>> = {
  restart: '1 approval by L1 or above',
  'kill-query': '1 approval by L1 or above',
  'warm-cache': '1 approval by L1 or above',
  'flush-cache': '1 approval by L1 or above',
  'rolling-restart': '1 approval by L2 or above',
  failover: '2 approvals, at least one by L2 or above',
};

const WHAT: Readonly<Record<ProposedActionValue['command'], (target: string) => string>> = {
  restart: (t) => `\`sudo systemctl restart qnwis\` on *${t}*, then wait for \`/health\` to pass`,
  'rolling-restart': () =>
    'restart qnwis on every app host one at a time, with the health gate between hosts',
  'kill-query': (t) =>
    `\`SELECT pg_terminate_backend(${t})\` on db-primary, after checking it is still the same query`,
  'warm-cache': (t) => `\`python scripts/warm_cache.py\` on *${t}*`,
  'flush-cache': (t) => `\`DEL ${t}\` on the cache`,
  failover: (t) =>
    `promote *${t}*, repoint every app host to it, restart them one by one (Disaster Recovery)`,
};

/** The ephemeral answer to a click on a proposed fix. */
export function proposedActionReply(value: ProposedActionValue, user: string): string {
  return [
    `<@${user}>, for ${value.key} this would run ${WHAT[value.command](value.target)}.`,
    `It needs ${APPROVAL[value.command]} before anything runs. Approved commands arrive with the "Act with approval" work; nothing was changed.`,
  ].join('\n');
}
