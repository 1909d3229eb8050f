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
