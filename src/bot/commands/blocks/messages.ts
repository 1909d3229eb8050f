/**
 * The short `/qnwis` messages: help, usage errors, the refusal, "running…", and the failure with
 * its reference id. Pure.
 */

import type { KnownBlock } from '@slack/web-api';
import { CATALOG, COMMAND_NAMES } from '../../../ops/commands/catalog.js';
import { BREAK_GLASS_USAGE } from '../request-parse.js';
import type { Verb } from '../usage.js';
import { GLOBAL_FLAGS_USAGE, VERB_SPECS, VERBS } from '../usage.js';
import { type CommandReply, context, fitReply, header, md, type ReplyMeta, section } from './common.js';

export function helpReply(topic: Verb | null, meta: ReplyMeta): CommandReply {
  const blocks: KnownBlock[] = [];
  if (topic) {
    const spec = VERB_SPECS[topic];
    blocks.push(header(`/qnwis ${topic}`));
    blocks.push(section(`\`${md(spec.usage, 300)}\`\n${md(spec.summary, 600)}`));
    blocks.push(section(`*Examples*\n${spec.examples.map((e) => `\`${md(e, 200)}\``).join('\n')}`));
    blocks.push(context([`Runbook: ${md(spec.runbook, 200)} · ${GLOBAL_FLAGS_USAGE}`]));
  } else {
    blocks.push(header('/qnwis — the operations runbook'));
    const lines = VERBS.map(
      (v) => `\`${md(VERB_SPECS[v].usage, 200)}\`\n      ${md(VERB_SPECS[v].summary, 300)}`,
    );
    blocks.push(section(`*Read-only*\n${lines.slice(0, 5).join('\n')}`));
    blocks.push(section(lines.slice(5).join('\n')));
    // The runbook's fixes: requests that run only once the approval policy is met.
    const fixes = COMMAND_NAMES.map(
      (n) => `\`${md(CATALOG[n].usage, 200)}\` — ${md(CATALOG[n].summary, 200)}`,
    );
    blocks.push(section(`*Fixes (need approval)*\n${fixes.slice(0, 8).join('\n')}`));
    blocks.push(section(fixes.slice(8).join('\n')));
    blocks.push(
      section(
        `\`${BREAK_GLASS_USAGE}\` — L2+: one approval suffices for anything during the window; announced and audited`,
      ),
    );
    blocks.push(
      context([
        GLOBAL_FLAGS_USAGE,
        'Read-only verbs change nothing. A fix posts an approval message with its plan; nothing runs before it is approved. Everything is audited.',
      ]),
    );
  }
  blocks.push(context([`ref \`${meta.ref}\``]));
  return fitReply({ text: topic ? `/qnwis ${topic}: ${VERB_SPECS[topic].usage}` : '/qnwis help', blocks });
}

export function usageReply(error: string, usage: string, meta: ReplyMeta): CommandReply {
  return fitReply({
    text: `/qnwis: ${error}`,
    blocks: [
      section(`:warning: ${md(error, 1500)}`),
      section(
        `*Usage*\n\`\`\`\n${usage
          .split('\n')
          .map((l) => md(l, 300))
          .join('\n')}\n\`\`\``,
      ),
      context([`\`/qnwis help\` lists every verb · ref \`${meta.ref}\``]),
    ],
  });
}

/** `text` is the role policy's refusal (mrkdwn with mentions, built from configuration only). */
export function refusalReply(refusal: string, meta: ReplyMeta): CommandReply {
  return fitReply({
    text: 'This /qnwis command is not available to you',
    blocks: [section(`:no_entry: ${refusal}`), context([`This refusal is recorded · ref \`${meta.ref}\``])],
  });
}

export function runningText(commandLine: string): string {
  return `:hourglass_flowing_sand: Running \`${md(commandLine, 300)}\`…`;
}

export function failureReply(meta: ReplyMeta, userFacing?: string): CommandReply {
  const text = userFacing ?? `Something went wrong (ref ${meta.ref})`;
  return fitReply({
    text,
    blocks: [
      section(
        userFacing
          ? `:warning: ${md(userFacing, 2000)}`
          : `:warning: Something went wrong (ref \`${meta.ref}\`). The bot's log has the details.`,
      ),
      context([`ref \`${meta.ref}\``]),
    ],
  });
}
