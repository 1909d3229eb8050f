/**
 * Clicks on a playbook's proposed fixes. Until approved commands exist ("Act with approval"), the
 * button says exactly what it would run and which approval the runbook's policy needs; nothing
 * changes a host.
 */
import { z } from 'zod';
import type { Inventory } from '../inventory.js';
import { argsFromButton, describeApprovalFor, parseCommand } from '../ops/commands/catalog.js';

export const proposedActionValue = z.object({
  key: z.string().regex(/^QNWIS-\d+$/),
  command: z.enum(['restart', 'rolling-restart', 'kill-query', 'warm-cache', 'failover', 'flush-cache']),
  target: z.string().min(1).max(64),
});

export type ProposedActionValue = z.infer<typeof proposedActionValue>;

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
export function proposedActionReply(value: ProposedActionValue, user: string, inventory: Inventory): string {
  // The approval it will need comes from the one approval policy, never restated here.
  const parsed = parseCommand(value.command, argsFromButton(value.command, value.target), inventory);
  if (!parsed.ok) return `<@${user}>, that fix no longer applies: ${parsed.error}. Nothing was changed.`;
  return [
    `<@${user}>, for ${value.key} this would run ${WHAT[value.command](value.target)}.`,
    `It needs ${describeApprovalFor(parsed.command, inventory)} before anything runs. Approved commands arrive with the "Act with approval" work; nothing was changed.`,
  ].join('\n');
}
