/** `/qnwis status` as Block Kit. Pure. */
import type { KnownBlock } from '@slack/web-api';
import type { DiagnosticResult, DiagnosticStatus } from '../../../ops/diagnostics/types.js';
import { relative } from '../../blocks/view.js';
import type { IncidentWithAlerts } from '../incident-queries.js';
import type { StatusReport } from '../verbs/status.js';
import {
  bareSummary,
  type CommandReply,
  divider,
  fitReply,
  footer,
  formatMs,
  header,
  md,
  type ReplyMeta,
  STATUS_MARK,
  section,
  worstStatus,
} from './common.js';

function resultText(r: DiagnosticResult | undefined, what: string): string {
  if (!r) return `${what}: no result`;
  return md(bareSummary(r), 240);
}

function line(mark: DiagnosticStatus, name: string, parts: readonly string[]): string {
  return `${STATUS_MARK[mark]} *${md(name, 64)}* — ${parts.join(' · ')}`;
}

export function incidentLine(i: IncidentWithAlerts, now: Date): string {
  const r = i.row;
  const hosts = [
    ...new Set(
      i.alerts
        .filter((a) => a.status === 'firing')
        .map((a) => a.labels.host)
        .filter(Boolean),
    ),
  ];
  const ack = r.acknowledgedBy ? ` · ack ${md(r.acknowledgedBy, 60)}` : '';
  return `*${md(r.key, 30)}* ${r.severity} ${md(r.alertname, 80)}${hosts.length ? ` (${md(hosts.join(', '), 80)})` : ''} · ${r.status} · opened ${relative(r.openedAt, now)}${ack}`;
}

export function statusReply(report: StatusReport, meta: ReplyMeta): CommandReply {
  const appStatuses = report.apps.map((a) =>
    worstStatus([a.service?.status ?? 'error', a.health?.status ?? 'error']),
  );
  const healthyApps = appStatuses.filter((s) => s === 'ok').length;
  const dbWorst = worstStatus(report.databases.map((d) => d.status));
  const cacheWorst = worstStatus(report.caches.map((c) => c.status));
  const overall = worstStatus([...appStatuses, dbWorst, cacheWorst]);

  const blocks: KnownBlock[] = [header(`QNWIS status · ${report.environment}`)];

  const appLines = report.apps.map((a, i) =>
    line(appStatuses[i] ?? 'error', a.host, [
      resultText(a.service, 'service'),
      resultText(a.health, '/health'),
    ]),
  );
  blocks.push(
    section(
      `*App hosts* (${healthyApps}/${report.apps.length} ok)\n${appLines.join('\n') || 'none in the inventory'}`,
    ),
  );

  const dbLines = report.databases.map((d) => line(d.status, d.target, [resultText(d, 'replication')]));
  blocks.push(
    section(
      `*Database* (role and replication lag)\n${dbLines.join('\n') || 'no database hosts in the inventory'}`,
    ),
  );

  const cacheLines = report.caches.map((c) => line(c.status, c.target, [resultText(c, 'redis')]));
  blocks.push(section(`*Redis*\n${cacheLines.join('\n') || 'no redis hosts in the inventory'}`));

  const m = report.maintenance;
  const maintenanceText = m.known
    ? m.enabled
      ? `:warning: *on*${m.message ? ` — ${md(m.message, 200)}` : ''}${m.since ? ` (since ${md(m.since, 40)})` : ''}`
      : 'off'
    : `unknown (${md(m.reason, 200)})`;
  blocks.push(section(`*Maintenance mode:* ${maintenanceText}`));

  let incidentsText: string;
  let openCount: number | null = null;
  if ('error' in report.incidents) {
    incidentsText = `*Open incidents:* unknown (${md(report.incidents.error, 200)})`;
  } else {
    openCount = report.incidents.total;
    const lines = report.incidents.incidents.map((i) => `• ${incidentLine(i, meta.now)}`);
    const more = report.incidents.total - report.incidents.incidents.length;
    incidentsText =
      report.incidents.total === 0
        ? '*Open incidents:* none'
        : `*Open incidents:* ${report.incidents.total}\n${lines.join('\n')}${more > 0 ? `\n…and ${more} more: \`/qnwis incidents\`` : ''}`;
  }
  blocks.push(section(incidentsText));
  blocks.push(divider());
  blocks.push(
    footer(meta, [
      `${STATUS_MARK[overall]} overall *${overall}* · checked in ${formatMs(report.durationMs)}`,
    ]),
  );

  const text =
    `QNWIS status (${report.environment}): ${healthyApps}/${report.apps.length} app hosts ok · ` +
    `database ${dbWorst} · redis ${cacheWorst} · maintenance ${m.known ? (m.enabled ? 'on' : 'off') : 'unknown'} · ` +
    `${openCount === null ? 'open incidents unknown' : `${openCount} open incident${openCount === 1 ? '' : 's'}`}`;
  return fitReply({ text, blocks });
}
