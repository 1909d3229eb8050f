/**
 * `/qnwis postmortem ID` as a reply: the draft as a Markdown file shared in the channel, and, for
 * when it cannot be (with --private, or the upload failed), the draft's beginning as text within
 * Slack's limits. Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import { postmortemFilename } from '../../../incidents/postmortem.js';
import type { PostmortemDraftResult, PostmortemLinkResult } from '../verbs/postmortem.js';
import {
  type CommandReply,
  codeBlocks,
  context,
  fitReply,
  footer,
  header,
  md,
  type ReplyMeta,
  section,
} from './common.js';
import { incidentNotFoundReply } from './incidents.js';

/** Serialized JSON the draft's text may take in the fallback (Slack: ~12,000 for all blocks). */
const DRAFT_JSON_BUDGET = 9000;

export function postmortemReply(draft: PostmortemDraftResult, meta: ReplyMeta): CommandReply {
  if (draft.markdown === null) return incidentNotFoundReply(draft.key, meta);
  const key = md(draft.key, 40);
  const filename = postmortemFilename(draft.key);
  const lines = draft.markdown.trimEnd().split('\n');
  const code = codeBlocks(lines, {
    jsonBudget: DRAFT_JSON_BUDGET,
    keep: 'head',
    maxSections: 3,
    maxLineLength: 400,
  });
  const blocks: KnownBlock[] = [
    header(`${draft.key} post-mortem draft`),
    section(
      `${draft.resolved ? '' : ':warning: Not resolved yet: the draft covers what has happened so far.\n'}` +
        `The draft in Markdown, built from the incident's timeline, alerts, commands and audit trail. ` +
        `Fill in impact, root cause and action items.`,
    ),
    ...code.blocks,
  ];
  if (code.truncated) {
    blocks.push(
      context([
        `${code.shown} of ${code.total} lines shown. The whole draft comes as a file (\`${md(filename, 80)}\`) when \`/qnwis postmortem ${key}\` is run without --private in a channel the bot is in.`,
      ]),
    );
  }
  blocks.push(footer(meta));
  const reply = fitReply({ text: `${draft.key} post-mortem draft`, blocks });
  return {
    ...reply,
    file: {
      filename,
      title: `${draft.key} post-mortem draft`,
      content: draft.markdown,
      initialComment: `:memo: Post-mortem draft for ${key}${draft.resolved ? '' : ' (not resolved yet)'}, asked for by <@${meta.userId}>: fill in impact, root cause and action items.`,
      sharedText: `:memo: The post-mortem draft for ${key} is in the channel as \`${md(filename, 80)}\`.`,
    },
  };
}

export function postmortemLinkReply(result: PostmortemLinkResult, meta: ReplyMeta): CommandReply {
  if (!result.found) return incidentNotFoundReply(result.key, meta);
  const blocks: KnownBlock[] = [
    section(
      `:memo: Post-mortem of *${md(result.key, 40)}* linked: ${md(result.url, 2000)}` +
        (result.resolved
          ? '\nIts 48-hour reminder is off.'
          : '\nIt is still open: the link is kept for when it resolves.'),
    ),
    footer(meta),
  ];
  return fitReply({ text: `${result.key} post-mortem linked`, blocks });
}
