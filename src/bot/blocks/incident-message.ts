/**
 * The one top-level Slack message per incident, posted when it opens and updated in place
 * (`chat.update`) on every change. Pure: view and clock in, `{ text, blocks }` out, always within
 * Slack's limits (limits.ts) whatever the alert carries.
 *
 * The link buttons carry a `url`, yet Slack still sends a `block_actions` interaction for each
 * click: the bot must `ack()` action ids starting with `incident.link.` or users see an error.
 */
import type { ActionsBlock, Button, ContextBlock, KnownBlock, SectionBlock } from '@slack/web-api';
import { SEVERITY_REQUIREMENTS } from '../../incidents/runbook.js';
import { incidentControls } from './incident-controls.js';
import { blocksSize, SLACK_LIMITS } from './limits.js';
import { escapeTruncate, mrkdwn, oneLine, plain } from './text.js';
import { formatDuration, type IncidentView, openFor, relative, statusEmoji, utcTime } from './view.js';

/** Action ids of the link buttons, in display order. */
export const INCIDENT_LINK_ACTIONS = {
  graph: 'incident.link.graph',
  silence: 'incident.link.silence',
  pagerduty: 'incident.link.pagerduty',
  alertmanager: 'incident.link.alertmanager',
} as const;

const BUTTON_LABELS: Readonly<Record<keyof typeof INCIDENT_LINK_ACTIONS, string>> = {
  graph: 'Prometheus graph',
  silence: 'Silence',
  pagerduty: 'PagerDuty incident',
  alertmanager: 'Alertmanager',
};

/** Runbook "Incident Response Workflow": acknowledge < 15 min, post-mortem < 48 h. */
const ACK_WITHIN_MS = 15 * 60_000;
const POSTMORTEM_WITHIN_MS = 48 * 3_600_000;

/** Budgets (characters) that keep the whole message under Slack's limits with room to spare. */
const BUDGET = {
  fallbackText: 300,
  key: 64,
  acknowledgedBy: 120,
  hostName: 80,
  hostsField: 1200,
  runbookSection: 400,
  nextEscalation: 300,
  summary: 300,
  /** Target for the serialized blocks, below SLACK_LIMITS.messageBlocksJson. */
  blocksJson: 11_000,
  /** Below this many characters for the description, link buttons give way instead. */
  minDescription: 300,
} as const;

const STATUS_WORD = { firing: 'FIRING', acknowledged: 'ACKNOWLEDGED', resolved: 'RESOLVED' } as const;

function header(view: IncidentView, now: Date): KnownBlock {
  const prefix = `${statusEmoji(view.status, view.severity)} ${view.severity} · `;
  const suffix = view.status === 'resolved' ? ` · resolved after ${formatDuration(openFor(view, now))}` : '';
  const room = SLACK_LIMITS.headerText - prefix.length - suffix.length;
  const name = oneLine(view.alertname) || 'unnamed alert';
  // plain_text: no mrkdwn escaping (see `plain`).
  const nameText = name.length <= room ? name : `${name.slice(0, Math.max(0, room - 1)).trimEnd()}…`;
  return { type: 'header', text: plain(`${prefix}${nameText}${suffix}`, SLACK_LIMITS.headerText) };
}

/** Only well-formed user and user-group mentions are rendered as mentions. */
const MENTION = /^(?:<@[UW][A-Z0-9]{2,30}>|<!subteam\^S[A-Z0-9]{2,30}>)$/;

/** " · answers: On-call engineer @qnwis-oncall" (who the runbook says responds first). */
function responders(view: IncidentView): string {
  const r = view.responders;
  if (!r?.titles) return '';
  const mentions = r.mentions.filter((m) => MENTION.test(m)).slice(0, 10);
  return ` · answers: ${escapeTruncate(oneLine(r.titles), 120)}${mentions.length > 0 ? ` ${mentions.join(' ')}` : ''}`;
}

function statusLine(view: IncidentView, now: Date): SectionBlock {
  const key = `\`${escapeTruncate(oneLine(view.key), BUDGET.key)}\``;
  let line: string;
  if (view.status === 'resolved') {
    line = `*RESOLVED* after ${formatDuration(openFor(view, now))} · ${key}`;
  } else if (view.status === 'acknowledged') {
    const by = view.acknowledgedBy
      ? ` by ${escapeTruncate(oneLine(view.acknowledgedBy), BUDGET.acknowledgedBy)}`
      : '';
    const still = view.alerts.firing > 0 ? ' · still firing' : '';
    line = `*ACKNOWLEDGED*${by}${still} · ${key}`;
  } else {
    line = `*FIRING* · ${key}${responders(view)}`;
  }
  return { type: 'section', text: mrkdwn(line, { verbatim: true }) };
}

/** Firing hosts in bold, resolved ones struck through, within `budget` characters. */
export function hostsText(hosts: IncidentView['hosts'], budget: number): string {
  const items = [
    ...hosts.firing.map((h) => ({ text: `*${escapeTruncate(oneLine(h), BUDGET.hostName)}*`, firing: true })),
    ...hosts.resolved.map((h) => ({
      text: `~${escapeTruncate(oneLine(h), BUDGET.hostName)}~`,
      firing: false,
    })),
  ];
  if (items.length === 0) return '_no host label_';
  const shown: string[] = [];
  let length = 0;
  // Room for the "…and 100 more (100 firing, 100 resolved)" tail.
  const room = budget - 48;
  for (const [i, item] of items.entries()) {
    const add = (shown.length > 0 ? 2 : 0) + item.text.length;
    const isLast = i === items.length - 1;
    if (length + add > (isLast ? budget : room)) {
      const rest = items.slice(i);
      const firing = rest.filter((r) => r.firing).length;
      const parts = [
        firing > 0 ? `${firing} firing` : '',
        rest.length - firing > 0 ? `${rest.length - firing} resolved` : '',
      ]
        .filter(Boolean)
        .join(', ');
      return `${shown.join(', ')} …and ${rest.length} more (${parts})`;
    }
    shown.push(item.text);
    length += add;
  }
  return shown.join(', ');
}

function fields(view: IncidentView, now: Date): SectionBlock {
  const req = SEVERITY_REQUIREMENTS[view.severity];
  const since =
    view.status === 'resolved'
      ? `*Was firing*\n${utcTime(view.openedAt, now)} → ${utcTime(view.resolvedAt ?? now, now)}`
      : `*Firing since*\n${relative(view.openedAt, now)} · ${utcTime(view.openedAt, now)}`;
  const alerts = [
    `${view.alerts.firing} firing`,
    view.alerts.resolved > 0 ? `${view.alerts.resolved} resolved` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return {
    type: 'section',
    fields: [
      mrkdwn(`*Severity*\n${view.severity} · ${req.meaning}`),
      mrkdwn(`*Affected hosts*\n${hostsText(view.hosts, BUDGET.hostsField)}`, { verbatim: true }),
      mrkdwn(since),
      mrkdwn(`*Alerts*\n${alerts}`),
      mrkdwn(
        `*Runbook section*\n${escapeTruncate(oneLine(view.runbookSection), BUDGET.runbookSection) || '—'}`,
        {
          verbatim: true,
        },
      ),
    ],
  };
}

/** What the runbook requires now: response, escalation, deadlines; the next scheduled escalation. */
function requirements(view: IncidentView, now: Date): ContextBlock {
  const req = SEVERITY_REQUIREMENTS[view.severity];
  const lines: string[] = [];
  const workflow = view.severity !== 'SEV-4';
  if (view.status === 'resolved') {
    if (workflow) {
      const due = new Date((view.resolvedAt ?? now).getTime() + POSTMORTEM_WITHIN_MS);
      lines.push(
        `📝 *Runbook, ${view.severity}:* Post-mortem due by ${utcTime(due, now)} (within 48 h of resolution)`,
      );
    } else {
      lines.push(`*Runbook, ${view.severity}:* ${req.response}`);
    }
  } else {
    lines.push(`*Runbook, ${view.severity}:* ${req.response} · *Escalation:* ${req.escalation}`);
    if (workflow && view.status === 'firing') {
      const due = new Date(view.openedAt.getTime() + ACK_WITHIN_MS);
      lines.push(
        now.getTime() <= due.getTime()
          ? `⏳ Acknowledge by ${utcTime(due, now)} (runbook: within 15 min)`
          : `⚠️ Not acknowledged after ${formatDuration(now.getTime() - view.openedAt.getTime())} (runbook: within 15 min)`,
      );
    }
    if (view.nextEscalation)
      lines.push(`⏱ ${escapeTruncate(oneLine(view.nextEscalation), BUDGET.nextEscalation)}`);
  }
  return { type: 'context', elements: lines.map((l) => mrkdwn(l, { verbatim: true })) };
}

const isLinkable = (url: string | null): url is string =>
  !!url && url.length <= SLACK_LIMITS.url && /^https?:\/\/\S+$/i.test(url);

function linkButtons(view: IncidentView): Button[] {
  const buttons: Button[] = [];
  for (const kind of Object.keys(INCIDENT_LINK_ACTIONS) as (keyof typeof INCIDENT_LINK_ACTIONS)[]) {
    if (kind === 'silence' && view.status === 'resolved') continue;
    const url = view.links[kind];
    if (!isLinkable(url)) continue;
    buttons.push({
      type: 'button',
      action_id: INCIDENT_LINK_ACTIONS[kind],
      text: plain(BUTTON_LABELS[kind], SLACK_LIMITS.buttonText),
      url,
      value: view.key.slice(0, SLACK_LIMITS.buttonValue),
    });
  }
  return buttons;
}

/** Summary in bold, then the description, cut to fit `jsonBudget` characters of serialized text. */
function details(view: IncidentView, jsonBudget: number): SectionBlock | null {
  const summary = escapeTruncate(oneLine(view.summary), BUDGET.summary);
  const description = view.description.trim();
  if (!summary && !description) return null;
  const head = summary ? `*${summary}*` : '';
  const build = (max: number) => {
    if (!description) return head;
    const room = max - head.length - (head ? 1 : 0);
    const body = escapeTruncate(description, Math.max(0, room), '…\n_(description truncated)_');
    return head ? `${head}\n${body}` : body;
  };
  let max = Math.min(SLACK_LIMITS.sectionText, jsonBudget);
  let text = build(max);
  // JSON escaping (quotes, backslashes, newlines) can make the text bigger on the wire.
  for (let excess = JSON.stringify(text).length - jsonBudget; excess > 0 && max > 0; ) {
    max -= excess;
    text = build(max);
    excess = JSON.stringify(text).length - jsonBudget;
  }
  return text ? { type: 'section', text: mrkdwn(text, { verbatim: true }) } : null;
}

/** The notification text: "SEV-1 DatabaseDown FIRING on db-primary — summary" (≤300 characters). */
function fallbackText(view: IncidentView, now: Date): string {
  const hosts = view.status === 'resolved' ? view.hosts.resolved : view.hosts.firing;
  const shown = hosts.slice(0, 3).map((h) => oneLine(h).slice(0, 40));
  const on =
    shown.length > 0 ? ` on ${shown.join(', ')}${hosts.length > 3 ? ` +${hosts.length - 3}` : ''}` : '';
  const state =
    view.status === 'resolved'
      ? `RESOLVED after ${formatDuration(openFor(view, now))}`
      : STATUS_WORD[view.status];
  const summary = oneLine(view.summary);
  const raw = `${view.severity} ${oneLine(view.alertname).slice(0, 120)} ${state}${on}${summary ? ` — ${summary}` : ''}`;
  return escapeTruncate(raw, BUDGET.fallbackText);
}

/**
 * The incident's top-level message. Fixed parts first; the description gets what is left of the
 * size budget, and if even a short description would not fit (absurdly long URLs), link buttons
 * give way, longest URL first.
 */
/** Prefix of the proposed-action buttons' action_id; the value carries `{ key, command, target }`. */
export const PROPOSED_ACTION_PREFIX = 'incident.propose.';
const MAX_PROPOSED = 5;

/** The playbook's verdict, one line (only once diagnostics ran). */
function diagnosisBlock(view: IncidentView): SectionBlock[] {
  if (!view.diagnosis) return [];
  const verdict = escapeTruncate(oneLine(view.diagnosis), 600);
  return [{ type: 'section', text: mrkdwn(`🔎 *Diagnosis:* ${verdict}`, { verbatim: true }) }];
}

/** What was done: the commands that ran for the incident, newest last. */
function commandsBlock(view: IncidentView): SectionBlock[] {
  const done = view.commandsDone ?? [];
  if (done.length === 0) return [];
  const lines = done.slice(-5).map((l) => escapeTruncate(oneLine(l), 200));
  return [{ type: 'section', text: mrkdwn(`🛠️ *Done:*\n${lines.join('\n')}`, { verbatim: true }) }];
}

/** The runbook fixes the playbook proposes; gone once the incident resolved. */
function proposedButtons(view: IncidentView): ActionsBlock[] {
  if (view.status === 'resolved' || view.proposedActions.length === 0) return [];
  const elements: Button[] = view.proposedActions.slice(0, MAX_PROPOSED).map((a, i) => ({
    type: 'button',
    action_id: `${PROPOSED_ACTION_PREFIX}${i}`,
    text: plain(a.label, SLACK_LIMITS.buttonText),
    value: JSON.stringify({ key: view.key, command: a.command, target: a.target }).slice(
      0,
      SLACK_LIMITS.buttonValue,
    ),
    ...(a.style ? { style: a.style } : {}),
  }));
  return [{ type: 'actions', block_id: 'incident.proposed', elements }];
}

export function incidentMessage(view: IncidentView, now: Date): { text: string; blocks: KnownBlock[] } {
  const top: KnownBlock[] = [
    header(view, now),
    statusLine(view, now),
    fields(view, now),
    ...diagnosisBlock(view),
    ...commandsBlock(view),
  ];
  const context = requirements(view, now);
  let buttons = linkButtons(view);
  const actions = (): ActionsBlock[] => (buttons.length > 0 ? [{ type: 'actions', elements: buttons }] : []);
  // A section around the description costs about 60 characters of JSON besides its text.
  const proposed = [...incidentControls(view), ...proposedButtons(view)];
  const room = () => BUDGET.blocksJson - blocksSize([...top, context, ...proposed, ...actions()]) - 60;
  while (buttons.length > 0 && room() < BUDGET.minDescription) {
    const longest = buttons.reduce((a, b) => ((b.url?.length ?? 0) > (a.url?.length ?? 0) ? b : a));
    buttons = buttons.filter((b) => b !== longest);
  }
  const body = details(view, Math.max(0, room()));
  return {
    text: fallbackText(view, now),
    blocks: [...top, ...(body ? [body] : []), context, ...proposed, ...actions()],
  };
}
