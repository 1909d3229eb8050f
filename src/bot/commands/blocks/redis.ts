/** `/qnwis redis keys` as Block Kit: the keys found by SCAN, capped, in a code block. Pure. */
import type { KnownBlock } from '@slack/web-api';
import type { RedisKeysReport } from '../verbs/redis.js';
import {
  type CommandReply,
  codeBlocks,
  context,
  fitReply,
  footer,
  formatMs,
  header,
  md,
  type ReplyMeta,
  section,
} from './common.js';

export function redisKeysReply(report: RedisKeysReport, meta: ReplyMeta): CommandReply {
  const blocks: KnownBlock[] = [header(`Redis · keys ${report.pattern}`)];
  blocks.push(
    context([
      `\`SCAN 0 MATCH ${md(report.pattern, 300)} COUNT 500\` (never KEYS)${report.host ? ` on *${md(report.host, 64)}*` : ''} · ${report.scanCalls} round trip${report.scanCalls === 1 ? '' : 's'} · ${formatMs(report.durationMs)}`,
    ]),
  );
  let text: string;
  if (report.problem !== null) {
    blocks.push(section(`:no_entry: ${md(report.problem, 1500)}`));
    text = `Redis keys ${report.pattern}: ${report.problem}`;
  } else if (report.keys.length === 0) {
    blocks.push(section(`No key matches \`${md(report.pattern, 300)}\`.`));
    text = `Redis keys ${report.pattern}: none`;
  } else {
    const code = codeBlocks(report.keys, {
      jsonBudget: 8000,
      keep: 'head',
      maxSections: 3,
      maxLineLength: 300,
    });
    blocks.push(...code.blocks);
    const count = `${report.keys.length}${report.truncated ? '+' : ''} key${report.keys.length === 1 && !report.truncated ? '' : 's'}`;
    const notes = [count];
    if (report.truncated) notes.push(`listing stops at ${report.keys.length}: narrow the pattern`);
    if (code.shown < code.total) notes.push(`${code.shown} shown (Slack's message size)`);
    blocks.push(context([notes.join(' · ')]));
    text = `Redis keys ${report.pattern}: ${count}`;
  }
  blocks.push(footer(meta));
  return fitReply({ text, blocks });
}
