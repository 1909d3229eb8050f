/**
 * `/qnwis incidents` and `/qnwis incident ID` as Block Kit: read-only views (no buttons: acting on
 * an incident happens on its own message). Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import { relative, utcTime } from '../../blocks/view.js';
import { type IncidentDetail, type OpenIncidents, verdictOf } from '../incident-queries.js';
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
  table,
} from './common.js';
import { incidentLine } from './status.js';

/** Lines per section (each at most ~300 characters, well inside 3000). */
const LINES_PER_SECTION = 8;

export function incidentsReply(open: OpenIncidents, meta: ReplyMeta): CommandReply {
  const blocks: KnownBlock[] = [header(`Open incidents (${open.total})`)];
  if (open.total === 0) {
    blocks.push(section(':large_green_circle: No open incidents.'));
  } else {
    const lines = open.incidents.map((i) => {
      const verdict = verdictOf(i.row);
      return `• ${incidentLine(i, meta.now)}${verdict ? `\n    :information_source: ${md(verdict, 200)}` : ''}`;
    });
    for (let i = 0; i < lines.length; i += LINES_PER_SECTION) {
      blocks.push(section(lines.slice(i, i + LINES_PER_SECTION).join('\n')));
    }
    if (open.total > open.incidents.length) {
      blocks.push(context([`${open.incidents.length} newest of ${open.total} shown`]));
    }
    blocks.push(context(['Details: `/qnwis incident QNWIS-…`']));
  }
  blocks.push(footer(meta));
  const newest = open.incidents[0]?.row;
  return fitReply({
    text: `${open.total} open incident${open.total === 1 ? '' : 's'}${newest ? `, newest ${newest.key} ${newest.alertname}` : ''}`,
    blocks,
  });
}

export function incidentNotFoundReply(key: string, meta: ReplyMeta): CommandReply {
  return fitReply({
    text: `${key} not found`,
    blocks: [
      section(`There is no incident *${md(key, 30)}*. Open ones: \`/qnwis incidents\`.`),
      footer(meta),
    ],
  });
}

export function incidentReply(d: IncidentDetail, meta: ReplyMeta): CommandReply {
  const r = d.row;
  const firing = d.alerts.filter((a) => a.status === 'firing');
  const lead = firing[0] ?? d.alerts[0];
  const hosts = [...new Set(d.alerts.map((a) => a.labels.host).filter((h): h is string => Boolean(h)))];
  const blocks: KnownBlock[] = [header(`${r.key} · ${r.severity} ${r.alertname}`)];
  const summary = lead?.annotations.summary ?? '';
  blocks.push(
    section(
      `*${r.status}*${summary ? ` — ${md(summary, 500)}` : ''}\n` +
        `Opened ${utcTime(r.openedAt, meta.now)} (${relative(r.openedAt, meta.now)})` +
        (r.resolvedAt ? ` · resolved ${utcTime(r.resolvedAt, meta.now)}` : '') +
        (r.acknowledgedBy ? ` · acknowledged by ${md(r.acknowledgedBy, 80)}` : '') +
        `\nHosts: ${hosts.length ? md(hosts.join(', '), 300) : '—'} · alerts firing ${firing.length}/${d.alerts.length} · channel #${md(r.channel, 80)}` +
        (r.slackPermalink && /^https?:\/\//.test(r.slackPermalink)
          ? ` · <${r.slackPermalink.replace(/[<>|]/g, '')}|message>`
          : ''),
    ),
  );
  const verdict = verdictOf(r);
  if (verdict) blocks.push(section(`:information_source: *Diagnosis:* ${md(verdict, 800)}`));
  const description = lead?.annotations.description;
  if (description) blocks.push(section(md(description, 1200)));
  if (d.timeline.length > 0) {
    const rows = d.timeline.map((e) => [utcTime(e.at, meta.now), e.kind, e.actor ?? '']);
    const code = codeBlocks(table(['at', 'event', 'by'], rows, 60), {
      jsonBudget: 3000,
      keep: 'tail',
      maxSections: 1,
    });
    blocks.push(
      section(
        `*Timeline* (${d.timeline.length < d.timelineTotal ? `last ${d.timeline.length} of ${d.timelineTotal}` : d.timelineTotal} events)`,
      ),
    );
    blocks.push(...code.blocks);
  }
  blocks.push(footer(meta));
  return fitReply({ text: `${r.key} ${r.severity} ${r.alertname}: ${r.status}`, blocks });
}
