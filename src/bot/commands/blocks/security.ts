/**
 * `/qnwis security` as Block Kit: per check, counts per host and the top users / addresses, the
 * newest matching lines, and the heavy query users. Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import type { LogCheck, SecurityReport } from '../verbs/security.js';
import { HEAVY_USER_THRESHOLD, SECURITY_LINES } from '../verbs/security.js';
import {
  type CommandReply,
  codeBlocks,
  divider,
  fitReply,
  footer,
  formatMs,
  header,
  md,
  type ReplyMeta,
  section,
  table,
} from './common.js';

/** The most frequent values of `field=` in the lines, e.g. user_id=analyst_5. */
export function topValues(
  lines: readonly string[],
  field: string,
  n = 5,
): { value: string; count: number }[] {
  const re = new RegExp(`\\b${field}=([^\\s"',}]+)`);
  const counts = new Map<string, number>();
  for (const l of lines) {
    const v = re.exec(l)?.[1];
    if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([value, count]) => ({ value, count }));
}

function logCheckBlocks(check: LogCheck, budget: number): { blocks: KnownBlock[]; total: number } {
  const blocks: KnownBlock[] = [];
  const all = check.hosts.flatMap((h) => h.lines);
  const perHost = check.hosts.map((h) => {
    if (h.problem !== null) return `:no_entry: *${md(h.host, 64)}*: ${md(h.problem, 300)}`;
    const n = h.lines.length;
    return `${n > 0 ? ':large_yellow_circle:' : ':large_green_circle:'} *${md(h.host, 64)}*: ${n >= SECURITY_LINES ? `${SECURITY_LINES}+` : n}`;
  });
  const users = topValues(all, 'user_id');
  const addrs = topValues(all, 'remote_addr');
  const tops = [
    users.length ? `top users: ${users.map((u) => `${md(u.value, 60)} ×${u.count}`).join(', ')}` : '',
    addrs.length ? `top addresses: ${addrs.map((a) => `${md(a.value, 60)} ×${a.count}`).join(', ')}` : '',
  ].filter(Boolean);
  blocks.push(
    section(
      `*${md(check.title, 100)}* — \`${md(check.runbook, 200)}\`\n${perHost.join('\n')}${tops.length ? `\n${tops.join('\n')}` : ''}`,
    ),
  );
  if (all.length > 0) {
    const newest = [...all].sort().slice(-8); // JSON lines start with their timestamp
    const code = codeBlocks(newest, { jsonBudget: budget, keep: 'tail', maxSections: 1, maxLineLength: 400 });
    blocks.push(...code.blocks);
  }
  return { blocks, total: all.length };
}

export function securityReply(report: SecurityReport, meta: ReplyMeta): CommandReply {
  const blocks: KnownBlock[] = [header('Security monitoring')];
  const auth = logCheckBlocks(report.authFailures, 3500);
  const rate = logCheckBlocks(report.rateLimits, 3500);
  blocks.push(...auth.blocks, divider(), ...rate.blocks, divider());
  const h = report.heavyUsers;
  let heavyText: string;
  if (h.problem !== null) {
    blocks.push(
      section(
        `*Heavy query users* — ${md(h.runbook, 200)}\n:no_entry: ${h.host ? `*${md(h.host, 64)}*: ` : ''}${md(h.problem, 800)}`,
      ),
    );
    heavyText = 'heavy users unknown';
  } else if (h.users.length === 0) {
    blocks.push(
      section(
        `*Heavy query users* — ${md(h.runbook, 200)}\n:large_green_circle: none above ${HEAVY_USER_THRESHOLD}`,
      ),
    );
    heavyText = 'no heavy users';
  } else {
    blocks.push(
      section(
        `*Heavy query users* — ${md(h.runbook, 200)}\n:large_yellow_circle: ${h.users.length} user${h.users.length === 1 ? '' : 's'}`,
      ),
    );
    const lines = table(
      ['user_id', 'queries'],
      h.users.map((u) => [u.userId, String(u.queries)]),
    );
    blocks.push(...codeBlocks(lines, { jsonBudget: 1500, maxSections: 1 }).blocks);
    heavyText = `${h.users.length} heavy user${h.users.length === 1 ? '' : 's'}`;
  }
  blocks.push(footer(meta, [`checked in ${formatMs(report.durationMs)}`]));
  const text = `Security: ${auth.total} failed authentications, ${rate.total} rate-limit violations (last ${SECURITY_LINES} per host), ${heavyText}`;
  return fitReply({ text, blocks });
}
