/** `/qnwis audit` as Block Kit: one line per entry (when, who, what, request), newest first. Pure. */
import type { KnownBlock } from '@slack/web-api';
import { formatSec } from '../../../ops/commands/catalog.js';
import type { AuditKind, AuditTrailRow } from '../../../store/audit-trail.js';
import type { AuditListing } from '../verbs/audit.js';
import {
  type CommandReply,
  context,
  fitReply,
  footer,
  header,
  md,
  type ReplyMeta,
  section,
} from './common.js';

const KIND_MARK: Readonly<Record<AuditKind, string>> = {
  request: ':inbox_tray:',
  approval: ':white_check_mark:',
  rejection: ':x:',
  expiry: ':hourglass:',
  start: ':arrow_forward:',
  step: ':small_blue_diamond:',
  result: ':checkered_flag:',
  cancel: ':octagonal_sign:',
  interrupted: ':warning:',
  'break-glass': ':rotating_light:',
  'read-only': ':mag:',
  refusal: ':no_entry:',
  'incident-action': ':pager:',
};

const SLACK_USER_ID = /^[UW][A-Z0-9]{2,30}$/;
/** Lines per section, and the most characters of lines in one reply (inside the 12,000 budget). */
const LINES_PER_SECTION = 8;
const LINES_BUDGET = 7000;

/** "2026-11-27 21:42:05 UTC": an audit wants the second and the date, never "5 min ago". */
export function auditTime(at: Date): string {
  return Number.isNaN(at.getTime())
    ? 'unknown time'
    : `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function who(r: AuditTrailRow): string {
  if (r.actorId === null) return 'the bot';
  const person = SLACK_USER_ID.test(r.actorId) ? `<@${r.actorId}>` : md(r.actorName ?? r.actorId, 80);
  return r.actorRole ? `${person} (${md(r.actorRole, 16)})` : person;
}

/** The request id, or the slash command's reference for a read-only command or refusal. */
function requestOf(r: AuditTrailRow): string {
  if (r.requestId) return `\`${md(r.requestId, 64)}\``;
  return typeof r.data.ref === 'string' ? `ref \`${md(r.data.ref, 16)}\`` : '';
}

export function auditEntryLine(r: AuditTrailRow): string {
  const request = requestOf(r);
  return (
    `${KIND_MARK[r.kind] ?? ':grey_question:'} ${auditTime(r.at)} · ${who(r)} · *${md(r.kind, 16)}*` +
    `${request ? ` · ${request}` : ''}\n      ${md(r.summary, 200) || '—'}`
  );
}

export function auditReply(listing: AuditListing, meta: ReplyMeta): CommandReply {
  const blocks: KnownBlock[] = [header('Audit trail')];
  const scope = [
    listing.userId ? `by <@${listing.userId}>` : 'everyone',
    listing.since && listing.sinceSec !== null
      ? `last ${formatSec(listing.sinceSec)} (since ${auditTime(listing.since)})`
      : 'any time',
  ];
  blocks.push(context([`${scope.join(' · ')} · newest first`]));
  let text: string;
  if (listing.rows.length === 0) {
    blocks.push(section('No audit entries match.'));
    text = 'Audit trail: no entries match';
  } else {
    const lines: string[] = [];
    let used = 0;
    for (const r of listing.rows) {
      const line = auditEntryLine(r);
      if (used + line.length > LINES_BUDGET) break;
      lines.push(line);
      used += line.length;
    }
    for (let i = 0; i < lines.length; i += LINES_PER_SECTION) {
      blocks.push(section(lines.slice(i, i + LINES_PER_SECTION).join('\n')));
    }
    const notShown = listing.rows.length - lines.length;
    if (listing.more || notShown > 0) {
      blocks.push(
        context([
          `${lines.length} newest shown; narrow with \`--user\` or \`--since\`, or use \`npm run audit -- list\``,
        ]),
      );
    }
    const newest = listing.rows[0] as AuditTrailRow;
    text = `Audit trail: ${lines.length}${listing.more || notShown > 0 ? '+' : ''} entries, newest ${newest.kind} at ${auditTime(newest.at)}`;
  }
  blocks.push(
    footer(meta, [
      'Each entry is chained to the one before by a hash; `npm run audit -- verify` checks the chain',
    ]),
  );
  return fitReply({ text, blocks });
}
