/**
 * The scheduled duties' Slack messages (issue 7, items 6 and 7): backup check, SLO digest,
 * error-log review, maintenance announcement, and the dead-man switch's "alerting is broken" /
 * "alerting is back". Pure builders: plain data in, `{ text, blocks }` out, within Slack's limits
 * for any input (long patterns, many hosts): every text is escaped and cut to a budget.
 */
import type { KnownBlock, SectionBlock } from '@slack/web-api';
import type { BackupVerdict } from '../../duties/backup-check.js';
import type { ErrorLogReview, HostReview, ReviewedPattern } from '../../duties/error-log-review.js';
import type { MaintenanceAnnouncement } from '../../duties/maintenance.js';
import { promDurationMs, type SloFigure, type SloWindows, sloHeadline } from '../../duties/slo.js';
import { blocksSize, SLACK_LIMITS } from './limits.js';
import { escapeTruncate, mrkdwn, oneLine, plain, truncate } from './text.js';
import { formatDuration, utcTime } from './view.js';

export interface DutyMessage {
  readonly text: string;
  readonly blocks: KnownBlock[];
}

const BUDGET = {
  blocks: 45,
  sectionText: 2800,
  blocksJson: 10_500,
  fallbackText: 600,
  header: 140,
  pattern: 220,
  example: 240,
  line: 600,
} as const;

// verbatim: log lines and host names are quoted, never turned into links or channel mentions.
const section = (text: string): SectionBlock => ({
  type: 'section',
  text: mrkdwn(truncate(text, BUDGET.sectionText), { verbatim: true }),
});
const context = (text: string): KnownBlock => ({
  type: 'context',
  elements: [mrkdwn(truncate(text, BUDGET.sectionText))],
});
const header = (text: string): KnownBlock => ({ type: 'header', text: plain(text, BUDGET.header) });
/** The notification text: plain words, escaped, so nothing in it can form a mention or a link. */
const fallback = (text: string) => escapeTruncate(oneLine(text), BUDGET.fallbackText);

/** Adds blocks while the message stays within its budget; returns how many did not fit. */
function packBlocks(into: KnownBlock[], more: readonly KnownBlock[], reserve = 1): number {
  let left = 0;
  for (const b of more) {
    if (
      left > 0 ||
      into.length + 1 + reserve > BUDGET.blocks ||
      blocksSize([...into, b]) > BUDGET.blocksJson
    ) {
      left++;
      continue;
    }
    into.push(b);
  }
  return left;
}

// ---- backup check --------------------------------------------------------------------------

/** The daily backup check's result in the duties channel (a failure also opens an incident). */
export function backupCheckMessage(
  verdict: BackupVerdict,
  now: Date,
  incident?: { readonly key: string; readonly channel: string } | null,
): DutyMessage {
  const where = `${escapeTruncate(verdict.dir, 200)} on ${escapeTruncate(verdict.host, 80)}`;
  if (verdict.ok) {
    return {
      text: fallback(`✅ Backup check: ${verdict.summary}`),
      blocks: [
        section(`✅ *Backup check passed* · ${where}\n${escapeTruncate(verdict.summary, BUDGET.line)}`),
        context(
          `Runbook: Backup and Restore (daily at 02:00 UTC) · ${verdict.backupCount} backups listed · checked ${utcTime(now)}`,
        ),
      ],
    };
  }
  const findings = verdict.findings.map((f) => `• ${escapeTruncate(f, BUDGET.line)}`).join('\n');
  const opened = incident
    ? `Opened incident *${escapeTruncate(incident.key, 40)}* in #${escapeTruncate(incident.channel.replace(/^#/, ''), 80)}.`
    : 'No incident could be opened: see the bot log.';
  return {
    text: fallback(`❌ Backup check failed: ${verdict.summary}`),
    blocks: [
      section(`❌ *Backup check failed* · ${where}\n${findings}\n${opened}`),
      context(
        'Runbook: Backup and Restore › Manual Database Backup: `/qnwis backup` takes one now, `/qnwis verify-backup` drills the restore · ' +
          `checked ${utcTime(now)}`,
      ),
    ],
  };
}

// ---- SLO digest ----------------------------------------------------------------------------

function mark(met: boolean | null): string {
  return met === null ? '➖' : met ? '✅' : '❌';
}

export function sloDigestMessage(input: {
  readonly figures: readonly SloFigure[];
  readonly windows: SloWindows;
  readonly now: Date;
  /** A chart follows in the thread. */
  readonly chart: boolean;
  /** Queries that failed (figure ids or a sentence each). */
  readonly problems?: readonly string[];
}): DutyMessage {
  const headline = sloHeadline(input.figures, input.windows);
  const recent = formatDuration(promDurationMs(input.windows.recent));
  const fields = input.figures.slice(0, SLACK_LIMITS.sectionFields).map((f) => {
    const recentText = ` · last ${recent}: ${f.recentMet === false ? '❌ ' : ''}${escapeTruncate(f.recentText, 40)}`;
    const note = f.note ? `\n_${escapeTruncate(f.note, 200)}_` : '';
    return mrkdwn(
      truncate(
        `${mark(f.met)} *${escapeTruncate(f.label, 60)}* (${escapeTruncate(f.targetText, 20)}, ${escapeTruncate(f.windowText, 20)})\n` +
          `${escapeTruncate(f.valueText, 40)}${recentText}${note}`,
        SLACK_LIMITS.fieldText - 100,
      ),
    );
  });
  const blocks: KnownBlock[] = [
    header(`SLO digest · ${utcTime(input.now)}`),
    section(`*${escapeTruncate(headline, 1000)}*`),
  ];
  if (fields.length > 0) blocks.push({ type: 'section', fields });
  const problems = (input.problems ?? []).slice(0, 5).map((p) => `• ${escapeTruncate(p, 300)}`);
  if (problems.length > 0) blocks.push(section(`⚠️ Some figures could not be read:\n${problems.join('\n')}`));
  blocks.push(
    context(
      'Runbook: SLOs and Alerts › Service Level Objectives · dashboard load time (< 3 s) has no metric in Prometheus · ' +
        (input.chart
          ? 'chart of the query p95 against its targets in the thread'
          : 'no chart (Prometheus unavailable)'),
    ),
  );
  return { text: fallback(`📊 SLO digest: ${headline}`), blocks };
}

// ---- error-log review ----------------------------------------------------------------------

function patternLine(p: ReviewedPattern): string {
  const flag = p.isNew ? '🆕 ' : '';
  const last = p.lastAt ? ` · last ${utcTime(new Date(p.lastAt))}` : '';
  return (
    `${flag}*×${p.count.toLocaleString('en-US')}* \`${escapeTruncate(oneLine(p.pattern), BUDGET.pattern).replace(/`/g, "'")}\`${last}\n` +
    `      _e.g._ ${escapeTruncate(oneLine(p.example), BUDGET.example)}`
  );
}

function hostSection(h: HostReview): string {
  const head =
    `*${escapeTruncate(h.host, 80)}* · ${h.lines.toLocaleString('en-US')} error line${h.lines === 1 ? '' : 's'}, ` +
    `${h.distinct} pattern${h.distinct === 1 ? '' : 's'}` +
    (h.newCount > 0 ? `, *${h.newCount} new*` : '') +
    (h.compared ? '' : ' · _no baseline for this host_');
  const lines = [head];
  for (const p of h.top) lines.push(patternLine(p));
  if (h.otherNew.length > 0) {
    lines.push('_Also new:_');
    for (const p of h.otherNew) lines.push(patternLine(p));
  }
  if (h.seenSince) lines.push(`_The lines read reach back only to ${utcTime(new Date(h.seenSince))}._`);
  for (const problem of h.problems.slice(0, 3)) lines.push(`⚠️ ${escapeTruncate(problem, 300)}`);
  return truncate(lines.join('\n'), BUDGET.sectionText);
}

export function errorLogReviewMessage(review: ErrorLogReview, now: Date): DutyMessage {
  // "24 h" as the runbook's tables say it, not "1 d".
  const window =
    review.windowMs % 3_600_000 === 0 && review.windowMs <= 72 * 3_600_000
      ? `${review.windowMs / 3_600_000} h`
      : formatDuration(review.windowMs);
  const unreadable = review.hosts.filter((h) => h.problems.length > 0).length;
  const headline =
    review.totalLines === 0
      ? `no error lines in the last ${window} on ${review.hosts.length} host${review.hosts.length === 1 ? '' : 's'}`
      : `${review.totalLines.toLocaleString('en-US')} error line${review.totalLines === 1 ? '' : 's'} in the last ${window}` +
        (review.baseline
          ? `, ${review.newPatterns} new pattern${review.newPatterns === 1 ? '' : 's'}`
          : ' (first review: the baseline for the next)');
  const blocks: KnownBlock[] = [
    header(`Error-log review · ${utcTime(now)}`),
    section(
      `*${escapeTruncate(headline, 500)}*${unreadable > 0 ? ` · ⚠️ ${unreadable} host(s) not fully read` : ''}`,
    ),
  ];
  // Hosts with something to say first (new patterns, then most lines); quiet hosts in one line.
  const loud = review.hosts
    .filter((h) => h.lines > 0 || h.problems.length > 0)
    .sort((a, b) => b.newCount - a.newCount || b.lines - a.lines || a.host.localeCompare(b.host));
  const quiet = review.hosts.filter((h) => h.lines === 0 && h.problems.length === 0).map((h) => h.host);
  const left = packBlocks(
    blocks,
    loud.map((h) => section(hostSection(h))),
    2,
  );
  if (left > 0)
    blocks.push(context(`…and ${left} more host${left === 1 ? '' : 's'} with errors (see the bot log)`));
  blocks.push(
    context(
      (quiet.length > 0 ? `No errors: ${escapeTruncate(quiet.join(', '), 800)} · ` : '') +
        'Runbook: On-Call Responsibilities › review error logs daily · 🆕 = not seen in the previous review',
    ),
  );
  return { text: fallback(`🔎 Error-log review: ${headline}`), blocks };
}

// ---- maintenance announcement --------------------------------------------------------------

export function maintenanceAnnouncementMessage(a: MaintenanceAnnouncement): DutyMessage {
  const paging =
    a.pagingSeverities.length > 0
      ? `During the window only ${a.pagingSeverities.join(', ')} pages; other alerts are posted in Slack without paging.`
      : 'During the window alerts are posted in Slack without paging.';
  return {
    text: fallback(`🛠️ Scheduled maintenance ${a.when} (${a.startsIn})`),
    blocks: [
      header('Scheduled maintenance'),
      section(
        `*${escapeTruncate(a.when, 200)}* (${escapeTruncate(a.startsIn, 60)})\n${escapeTruncate(paging, 400)}`,
      ),
      section(
        `*Procedure (runbook)*\n${a.procedure.map((p, i) => `${i + 1}. ${escapeTruncate(p, 300)}`).join('\n')}`,
      ),
      context(
        `Runbook: Maintenance Windows › 48 hours' notice via ${escapeTruncate(a.notify.join(', '), 300)} · ` +
          `window ${escapeTruncate(a.window.id, 60)}`,
      ),
    ],
  };
}

// ---- dead-man switch -----------------------------------------------------------------------

export type PageOutcome =
  | { readonly kind: 'paged'; readonly dedupKey: string }
  | { readonly kind: 'not-configured' }
  | { readonly kind: 'failed'; readonly error: string };

export function watchdogMissingMessage(input: {
  readonly heartbeat: string;
  readonly silence: string;
  readonly page: PageOutcome;
  readonly now: Date;
}): DutyMessage {
  const page =
    input.page.kind === 'paged'
      ? `Paged PagerDuty directly (dedup key \`${escapeTruncate(input.page.dedupKey, 120)}\`).`
      : input.page.kind === 'not-configured'
        ? '⚠️ *Nobody was paged*: PAGERDUTY_ROUTING_KEY is not set.'
        : `⚠️ *The page failed*: ${escapeTruncate(input.page.error, 300)}. The bot keeps trying at every check.`;
  const hb = escapeTruncate(input.heartbeat, 60);
  return {
    text: fallback(`🚨 Alerting pipeline broken: ${input.silence}. Other alerts may not be reaching anyone.`),
    blocks: [
      section(
        `🚨 *Alerting pipeline broken* · ${escapeTruncate(input.silence, 400)}\n` +
          'Prometheus → Alertmanager → qnwis-chatops is not delivering: *other alerts may not be reaching anyone*. ' +
          `${page}`,
      ),
      section(
        '*Check*\n• Is Prometheus up and evaluating its rules (the always-firing `' +
          `${hb}\` alert)?\n• Is Alertmanager up, and can it reach the bot's webhook (token, network)?\n` +
          '• Until it is back, watch the dashboards by hand.',
      ),
      context(`Dead-man switch · ${utcTime(input.now)}`),
    ],
  };
}

export function watchdogBackMessage(input: {
  readonly heartbeat: string;
  readonly outageStartedAt: Date | null;
  readonly now: Date;
  readonly resolved: 'resolved' | 'not-paged' | { readonly error: string };
}): DutyMessage {
  const lasted = input.outageStartedAt
    ? ` after ${formatDuration(input.now.getTime() - input.outageStartedAt.getTime())} (missing since ${utcTime(input.outageStartedAt, input.now)})`
    : '';
  const page =
    input.resolved === 'resolved'
      ? 'The PagerDuty alert is resolved.'
      : input.resolved === 'not-paged'
        ? 'Nobody had been paged.'
        : `⚠️ Resolving the PagerDuty alert failed: ${escapeTruncate(input.resolved.error, 300)}; the bot keeps trying.`;
  return {
    text: fallback(`✅ Alerting pipeline back: the ${input.heartbeat} heartbeat arrives again${lasted}.`),
    blocks: [
      section(
        `✅ *Alerting pipeline back* · the ${escapeTruncate(input.heartbeat, 60)} heartbeat arrives again${lasted}. ${page}\n` +
          'Alerts that fired during the gap arrive now (Alertmanager re-sends what is still firing).',
      ),
      context(`Dead-man switch · ${utcTime(input.now)}`),
    ],
  };
}
