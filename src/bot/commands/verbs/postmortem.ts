/**
 * `/qnwis postmortem ID`: the post-mortem draft of an incident (QNWIS-42 or 42), built from its
 * record as the resolve job builds it (src/jobs/postmortem.ts). Open incidents get a draft too,
 * marked as not resolved yet.
 */
import { postmortemDraft } from '../../../incidents/postmortem.js';
import { loadPostmortemInput } from '../../../jobs/postmortem.js';
import type { CommandEnv } from '../env.js';
import type { QnwisCommand } from '../parse.js';

export interface PostmortemDraftResult {
  readonly key: string;
  /** null: no such incident. */
  readonly markdown: string | null;
  readonly resolved: boolean;
}

export async function draftPostmortem(
  command: Extract<QnwisCommand, { verb: 'postmortem' }>,
  env: Pick<CommandEnv, 'incidents' | 'now' | 'escalationMatrix'>,
): Promise<PostmortemDraftResult> {
  const input = await loadPostmortemInput(env.incidents, command.id, {
    now: env.now(),
    ...(env.escalationMatrix ? { matrix: env.escalationMatrix } : {}),
  });
  if (!input) return { key: command.key, markdown: null, resolved: false };
  return {
    key: input.incident.key,
    markdown: postmortemDraft(input),
    resolved: input.incident.status === 'resolved',
  };
}

export interface PostmortemLinkResult {
  readonly key: string;
  /** false: no such incident. */
  readonly found: boolean;
  readonly url: string;
  readonly resolved: boolean;
}

/** `/qnwis postmortem ID --link URL`: records the written post-mortem's link on the incident. */
export async function linkPostmortem(
  command: Extract<QnwisCommand, { verb: 'postmortem' }> & { link: string },
  env: Pick<CommandEnv, 'incidents' | 'onIncidentChanged' | 'auditTrail' | 'now' | 'log'>,
  by: string,
): Promise<PostmortemLinkResult> {
  const row = await env.incidents.get(command.id);
  if (!row) return { key: command.key, found: false, url: command.link, resolved: false };
  await env.incidents.linkPostmortem(row.id, by, command.link);
  await env.auditTrail
    ?.append({
      kind: 'incident-action',
      at: env.now(),
      actorId: by,
      incidentId: row.id,
      summary: `linked ${row.key}'s post-mortem: ${command.link}`,
      data: { action: 'postmortem-link', url: command.link },
    })
    .catch((err: unknown) => env.log.error({ err }, 'could not write the audit row of a post-mortem link'));
  await env.onIncidentChanged?.(row.id);
  return { key: row.key, found: true, url: command.link, resolved: row.status === 'resolved' };
}
