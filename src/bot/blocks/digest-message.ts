/**
 * The alert-storm digest: while a channel is flooded, one message lists its incidents (updated in
 * place) instead of one message each. It must fit Slack's limits for any number of incidents, so
 * incidents are packed several per section and the list ends with "…and N more" when the budget
 * runs out; the counts at the top always cover every incident. Pure.
 */
import type { KnownBlock, SectionBlock } from '@slack/web-api';
import { SEVERITIES, type Severity } from '../../incidents/runbook.js';
import { blocksSize, SLACK_LIMITS } from './limits.js';
import { escapeTruncate, mrkdwn, oneLine, plain, truncate } from './text.js';
import { formatDuration, type IncidentView, openFor, statusEmoji, utcTime } from './view.js';

export interface DigestInput {
  /** Channel name ("ops" or "#ops"). */
  channel: string;
  incidents: readonly IncidentView[];
  /** When the storm (the digest) started. */
  since: Date;
  now: Date;
}

const BUDGET = {
  /** Blocks in the message, well below Slack's 50. */
  blocks: 40,
  /** Text of one section, below Slack's 3000 (JSON escaping is accounted separately). */
  sectionText: 2800,
  /** Serialized blocks, below SLACK_LIMITS.messageBlocksJson. */
  blocksJson: 10_500,
  alertname: 80,
  host: 40,
  key: 32,
  channel: 60,
  fallbackText: 300,
} as const;

/**
 * Most severe first; within a severity, open incidents before resolved ones, then newest first;
 * the key breaks ties so the order is stable.
 */
export function digestOrder(a: IncidentView, b: IncidentView): number {
  return (
    SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
    Number(a.status === 'resolved') - Number(b.status === 'resolved') ||
    b.openedAt.getTime() - a.openedAt.getTime() ||
    a.key.localeCompare(b.key)
  );
}

/** "🟡 *SEV-3* · LowCacheHitRate · app-01 · firing 2 min · QNWIS-42"; resolved ones struck through. */
export function digestLine(view: IncidentView, now: Date): string {
  const name = escapeTruncate(oneLine(view.alertname), BUDGET.alertname) || 'unnamed alert';
  const hosts = view.status === 'resolved' ? view.hosts.resolved : view.hosts.firing;
  const first = hosts[0] === undefined ? '' : escapeTruncate(oneLine(hosts[0]), BUDGET.host);
  const host = first ? ` · ${first}${hosts.length > 1 ? ` +${hosts.length - 1}` : ''}` : '';
  const key = escapeTruncate(oneLine(view.key), BUDGET.key);
  const age = formatDuration(openFor(view, now));
  const emoji = statusEmoji(view.status, view.severity);
  if (view.status === 'resolved')
    return `${emoji} ~${view.severity} · ${name}${host} · resolved after ${age}~ · ${key}`;
  const state = view.status === 'acknowledged' ? `acknowledged · open ${age}` : `firing ${age}`;
  return `${emoji} *${view.severity}* · ${name}${host} · ${state} · ${key}`;
}

function counts(incidents: readonly IncidentView[]): { bySeverity: string; byStatus: string } {
  const sev = new Map<Severity, number>();
  const status = { firing: 0, acknowledged: 0, resolved: 0 };
  for (const i of incidents) {
    sev.set(i.severity, (sev.get(i.severity) ?? 0) + 1);
    status[i.status] += 1;
  }
  const bySeverity = SEVERITIES.filter((s) => sev.has(s))
    .map((s) => `${s}: ${sev.get(s)}`)
    .join(' · ');
  const byStatus = (['firing', 'acknowledged', 'resolved'] as const)
    .filter((s) => status[s] > 0)
    .map((s) => `${status[s]} ${s}`)
    .join(' · ');
  return { bySeverity: bySeverity || 'none', byStatus: byStatus || 'none' };
}

const section = (text: string): SectionBlock => ({ type: 'section', text: mrkdwn(text, { verbatim: true }) });

export function digestMessage(input: DigestInput): { text: string; blocks: KnownBlock[] } {
  const { incidents, since, now } = input;
  const channel = `#${truncate(oneLine(input.channel).replace(/^#/, ''), BUDGET.channel) || 'channel'}`;
  const n = incidents.length;
  const title = `${n} ${n === 1 ? 'incident' : 'incidents'} since ${utcTime(since, now)}`;
  const c = counts(incidents);

  const top: KnownBlock[] = [
    // plain_text: no mrkdwn escaping (see `plain`).
    { type: 'header', text: plain(`⚠️ Alert storm in ${channel}: ${title}`, SLACK_LIMITS.headerText) },
    section(`*By severity:* ${c.bySeverity}\n*By status:* ${c.byStatus}`),
  ];
  const footer: KnownBlock = {
    type: 'context',
    elements: [mrkdwn(`Updated ${utcTime(now, now)} · most severe first, then newest`)],
  };

  const sorted = [...incidents].sort(digestOrder);
  const lines = sorted.map((v) => digestLine(v, now));
  const more = (shown: number) => {
    const hidden = counts(sorted.slice(shown)).bySeverity;
    return section(`…and ${n - shown} more (${hidden})`);
  };
  // Greedy packing, estimated from each line's JSON; the exact check below trims any excess.
  const chunks: string[][] = [];
  let used = blocksSize([...top, footer, more(0)]) + 8;
  for (const line of lines) {
    const current = chunks.at(-1);
    const fitsCurrent =
      current !== undefined && current.join('\n').length + 1 + line.length <= BUDGET.sectionText;
    // A line costs its escaped JSON and a "\n"; a new section also its wrapper.
    const cost = JSON.stringify(line).length + (fitsCurrent ? 0 : blocksSize([section('')]));
    const blocksIfNew = top.length + chunks.length + 1 + 2; // + the new section, "…and N more", footer
    if (used + cost > BUDGET.blocksJson || (!fitsCurrent && blocksIfNew > BUDGET.blocks)) break;
    if (fitsCurrent) current.push(line);
    else chunks.push([line]);
    used += cost;
  }

  const assemble = (): KnownBlock[] => {
    const shown = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const list =
      n === 0 ? [section('_No incidents in this storm._')] : chunks.map((chunk) => section(chunk.join('\n')));
    return [...top, ...list, ...(shown < n ? [more(shown)] : []), footer];
  };
  let blocks = assemble();
  while (blocksSize(blocks) > BUDGET.blocksJson && chunks.length > 0) {
    const last = chunks.at(-1);
    last?.pop();
    if (last?.length === 0) chunks.pop();
    blocks = assemble();
  }

  const text = escapeTruncate(
    `Alert storm in ${channel}: ${title} (${c.bySeverity}; ${c.byStatus})`,
    BUDGET.fallbackText,
  );
  return { text, blocks };
}
