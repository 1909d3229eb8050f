/**
 * The post-mortem draft (issue 7, item 5): Markdown built from what the bot recorded about an
 * incident — its alerts, timeline (alerts, diagnosis, acknowledgements, escalations, notes),
 * command requests with their approvers and results, and the runbook's clock — so the person who
 * writes the report starts from the facts with actors and UTC times, and fills in only what a
 * machine cannot know (impact, root cause, action items, runbook changes). Pure.
 *
 * The runbook has no post-mortem template; the headings follow its Incident Response Workflow
 * (acknowledge < 15 min, diagnose < 30 min, mitigate < 1 h, resolve < 4 h; post-mortem < 48 h:
 * "write incident report, identify action items, update runbook") and its SLO table.
 *
 * Timeline kinds not known here (new ones keep being added) are still shown: kind, actor and a
 * summary of their data.
 */
import type { AlertState, IncidentStatus } from './incident.js';
import { RESPONSE_TARGETS, runbookSection, SEVERITY_REQUIREMENTS, type Severity } from './runbook.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// ---------------------------------------------------------------------------------------------
// Input

export interface PostmortemIncident {
  readonly key: string;
  readonly alertname: string;
  readonly severity: Severity;
  readonly status: IncidentStatus;
  readonly channel: string;
  /** When the runbook's clock started (the first alert's startsAt). */
  readonly openedAt: Date;
  readonly acknowledgedAt: Date | null;
  readonly acknowledgedBy: string | null;
  readonly diagnosedAt: Date | null;
  readonly diagnosisVerdict: string | null;
  /** When recorded; otherwise the first command for the incident that succeeded counts. */
  readonly mitigatedAt?: Date | null;
  readonly resolvedAt: Date | null;
  /** The note of a resolution by hand. */
  readonly resolveNote?: string | null;
  readonly slackPermalink?: string | null;
  readonly pdHtmlUrl?: string | null;
  readonly postmortemUrl?: string | null;
}

/** One row of the incident's timeline (`incident_events`). */
export interface PostmortemEvent {
  readonly at: Date;
  readonly kind: string;
  readonly actor: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

/** A Slack user as the request store and audit trail recorded them. */
export interface PostmortemPerson {
  readonly id: string;
  readonly name: string | null;
  /** Their role then (L1…L4, viewer). */
  readonly level: string | null;
}

export interface PostmortemCommand {
  /** "R-7K2M9XD4". */
  readonly id: string;
  readonly command: string;
  /** "restart app-02". */
  readonly summary: string;
  readonly risk: string;
  readonly destructive: boolean;
  readonly breakGlass: boolean;
  readonly requester: PostmortemPerson;
  readonly requestedAt: Date;
  readonly approvals: readonly (PostmortemPerson & { readonly at: Date })[];
  readonly approvedAt: Date | null;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  /** succeeded, failed, rejected, … (src/store/requests.ts REQUEST_STATES). */
  readonly state: string;
  readonly stateDetail: string | null;
  readonly steps: readonly {
    readonly stepId: string;
    readonly status: string;
    readonly detail: string;
    readonly at: string;
  }[];
  readonly verification: {
    readonly ok?: boolean;
    readonly detail?: string;
    readonly before?: unknown;
    readonly after?: unknown;
  } | null;
  /**
   * The request's audit-trail rows, oldest first (request, approval, rejection, start, step,
   * result, cancel, …): who rejected or cancelled is only there. Empty: the timeline is built from
   * the fields above.
   */
  readonly trail: readonly {
    readonly kind: string;
    readonly at: Date;
    /** null: the bot itself (a worker, the sweep). */
    readonly actor: PostmortemPerson | null;
    readonly summary: string;
  }[];
}

/** The runbook's clock in milliseconds (the escalation matrix may shorten or lengthen it). */
export interface ResponseTargetsMs {
  readonly acknowledgeMs: number;
  readonly diagnoseMs: number;
  readonly mitigateMs: number;
  readonly resolveMs: number;
  /** Counted from the resolution. */
  readonly postmortemMs: number;
}

export const RUNBOOK_TARGETS_MS: ResponseTargetsMs = {
  acknowledgeMs: RESPONSE_TARGETS.acknowledgeMinutes * MINUTE,
  diagnoseMs: RESPONSE_TARGETS.diagnoseMinutes * MINUTE,
  mitigateMs: RESPONSE_TARGETS.mitigateMinutes * MINUTE,
  resolveMs: RESPONSE_TARGETS.resolveMinutes * MINUTE,
  postmortemMs: RESPONSE_TARGETS.postmortemHours * HOUR,
};

export interface PostmortemInput {
  readonly incident: PostmortemIncident;
  readonly alerts: readonly AlertState[];
  /** Oldest first. */
  readonly timeline: readonly PostmortemEvent[];
  /** Command requests for the incident, oldest first. */
  readonly commands: readonly PostmortemCommand[];
  /** When the draft is made. */
  readonly now: Date;
  /** Default: the runbook's. */
  readonly targets?: ResponseTargetsMs;
  /**
   * Which marks apply to the severity (the escalation matrix's `acknowledge` and `workflow`).
   * Default: every severity but SEV-4 ("create a ticket").
   */
  readonly plan?: { readonly acknowledge: boolean; readonly workflow: boolean };
  /** Escalation level name → title ("senior-sre" → "Senior SRE"), for escalation events. */
  readonly levelTitles?: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// The runbook's SLOs ("SLOs and Alerts › Service Level Objectives")

export interface RunbookSlo {
  readonly name: string;
  readonly target: string;
  readonly window: string;
}

export const RUNBOOK_SLOS: readonly RunbookSlo[] = [
  { name: 'Availability', target: '99.5%', window: '30 days' },
  { name: 'Simple query response', target: '< 10 s (p95)', window: '24 hours' },
  { name: 'Medium query response', target: '< 30 s (p95)', window: '24 hours' },
  { name: 'Complex query response', target: '< 90 s (p95)', window: '24 hours' },
  { name: 'Dashboard load time', target: '< 3 s (p95)', window: '24 hours' },
  { name: 'Error rate', target: '< 1%', window: '24 hours' },
  { name: 'Cache hit rate', target: '> 60%', window: '24 hours' },
];

/** 30 days at 99.5 %: 0.5 % of 43,200 min. */
export const AVAILABILITY_BUDGET_MS = 30 * 24 * HOUR * 0.005;

const QUERY_SLOS = ['Simple query response', 'Medium query response', 'Complex query response'];

/** Which SLOs each of the runbook's alerts threatens. */
export const SLOS_BY_ALERT: Readonly<Record<string, readonly string[]>> = {
  HighErrorRate: ['Error rate', 'Availability'],
  ServiceDown: ['Availability'],
  DatabaseDown: ['Availability', 'Error rate'],
  QueryLatencyHigh: [...QUERY_SLOS, 'Dashboard load time'],
  LowCacheHitRate: ['Cache hit rate', ...QUERY_SLOS],
  HighMemoryUsage: ['Availability', ...QUERY_SLOS],
};

// ---------------------------------------------------------------------------------------------
// The clock

export type StageName = 'acknowledge' | 'diagnose' | 'mitigate' | 'resolve';

export type StageResult = 'met' | 'missed' | 'pending' | 'not reached' | 'not required';

export interface StageOutcome {
  readonly stage: StageName;
  readonly targetMs: number;
  readonly at: Date | null;
  /** From the opening to `at`. */
  readonly tookMs: number | null;
  readonly result: StageResult;
}

export function defaultPlan(severity: Severity): { acknowledge: boolean; workflow: boolean } {
  return severity === 'SEV-4'
    ? { acknowledge: false, workflow: false }
    : { acknowledge: true, workflow: true };
}

/** The first time the incident was mitigated: recorded, or the first command that succeeded. */
export function mitigatedAt(input: Pick<PostmortemInput, 'incident' | 'commands'>): Date | null {
  if (input.incident.mitigatedAt) return input.incident.mitigatedAt;
  const done = input.commands
    .filter((c) => c.state === 'succeeded' && c.finishedAt)
    .map((c) => (c.finishedAt as Date).getTime());
  return done.length > 0 ? new Date(Math.min(...done)) : null;
}

/**
 * Each workflow stage against its target: met or missed when it happened; when it did not,
 * missed once the target passed before the end (resolution, or now), "not reached" when the
 * incident ended inside the target, pending while it is still open inside it.
 */
export function responseStages(input: PostmortemInput): StageOutcome[] {
  const t = input.targets ?? RUNBOOK_TARGETS_MS;
  const plan = input.plan ?? defaultPlan(input.incident.severity);
  const i = input.incident;
  const opened = i.openedAt.getTime();
  const stages: [StageName, number, Date | null, boolean][] = [
    ['acknowledge', t.acknowledgeMs, i.acknowledgedAt, plan.acknowledge],
    ['diagnose', t.diagnoseMs, i.diagnosedAt, plan.workflow],
    ['mitigate', t.mitigateMs, mitigatedAt(input), plan.workflow],
    ['resolve', t.resolveMs, i.resolvedAt, plan.workflow],
  ];
  return stages.map(([stage, targetMs, at, applies]) => {
    const tookMs = at ? Math.max(0, at.getTime() - opened) : null;
    // Shown even when recorded for a severity without a target (someone acknowledged a SEV-4).
    if (!applies) return { stage, targetMs, at, tookMs, result: 'not required' };
    if (tookMs !== null)
      return { stage, targetMs, at, tookMs, result: tookMs <= targetMs ? 'met' : 'missed' };
    const end = (i.resolvedAt ?? input.now).getTime();
    const result: StageResult = end - opened > targetMs ? 'missed' : i.resolvedAt ? 'not reached' : 'pending';
    return { stage, targetMs, at, tookMs, result };
  });
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** "2026-11-27 21:03:07" (UTC). */
export function utcStamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/** "45 s", "12 min 5 s", "1 h 4 min", "2 d 3 h". */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 72) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

/** A run's length: "420 ms", "2.1 s", then as `formatSpan`. */
export function formatRun(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatSpan(ms);
}

// Control and format characters (bidi overrides, zero-width) never belong in the report.
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/** Slack markup → plain text: `<@U1>` → @U1, `<!subteam^S1|@sre>` → @sre, `<url|text>` → text (url). */
export function slackToPlain(text: string): string {
  return text
    .replace(/<@([UW][A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `@${name || id}`)
    .replace(/<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, handle?: string) =>
      handle ? (handle.startsWith('@') ? handle : `@${handle}`) : `@${id}`,
    )
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<(https?:[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<(https?:[^>]+)>/g, '$1');
}

function oneLine(raw: string, max: number): string {
  const flat = slackToPlain(raw).replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : flat;
}

/** Text from people, hosts or Slack as inline Markdown: one line, capped, nothing that formats. */
export function mdText(raw: string, max = 300): string {
  return oneLine(raw, max).replace(/[\\`*_[\]<>|#~]/g, (c) => `\\${c}`);
}

/** Inline code: backticks in the text cannot end it early. */
function code(raw: string, max = 200): string {
  const t = oneLine(raw, max);
  const fence = t.includes('`') ? '``' : '`';
  return `${fence}${fence.length > 1 ? ' ' : ''}${t.replace(/\|/g, '\\|')}${fence.length > 1 ? ' ' : ''}${fence}`;
}

function row(cells: readonly string[]): string {
  return `| ${cells.map((c) => c || ' ').join(' | ')} |`;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [row(headers), row(headers.map(() => '---')), ...rows.map(row)];
}

function link(text: string, url: string | null | undefined): string {
  if (!url || !/^https?:\/\/[^\s()<>]+$/.test(url)) return text;
  return `[${text}](${url})`;
}

const SYSTEM_ACTORS: Readonly<Record<string, string>> = {
  alertmanager: 'Alertmanager',
  playbook: 'qnwis-chatops (playbook)',
  commands: 'qnwis-chatops (worker)',
  pagerduty: 'PagerDuty',
  escalation: 'qnwis-chatops (escalation clock)',
  reconciliation: 'qnwis-chatops (reconciliation)',
};

/** "Sara Nasser (U0SRE00001, L2)"; "U0SRE00001" alone when no name was recorded. */
export function personText(p: PostmortemPerson): string {
  const extra = [p.id, p.level].filter(Boolean).join(', ');
  return p.name ? `${mdText(p.name, 80)} (${mdText(extra, 60)})` : mdText(extra, 60);
}

function str(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/** `key=value` pairs of a data object, for kinds this module does not know. */
export function dataSummary(data: Readonly<Record<string, unknown>>, max = 240): string {
  const parts = Object.entries(data)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => {
      const s = str(v);
      if (s !== null) return `${k}=${oneLine(s, 100)}`;
      if (Array.isArray(v) && v.every((x) => str(x) !== null)) return `${k}=${v.map(str).join(',')}`;
      return `${k}=${oneLine(JSON.stringify(v) ?? '', 80)}`;
    });
  return mdText(parts.join(' · '), max);
}

// ---------------------------------------------------------------------------------------------
// The timeline

interface Line {
  readonly at: Date;
  readonly actor: string;
  readonly text: string;
  /** Sort key among equal instants: keeps the source order. */
  readonly seq: number;
}

/** Kinds shown under "Acknowledgements and escalations" too. */
export const RESPONSE_KINDS: ReadonlySet<string> = new Set([
  'acknowledged',
  'escalated',
  'escalation',
  'reminder',
  'reassigned',
  'snoozed',
  'paged',
  'page_resolved',
  'resolved_in_pagerduty',
  'resolved_by_hand',
]);

function humanKind(kind: string): string {
  const words = kind.replace(/[_-]+/g, ' ').trim();
  return words ? words[0]?.toUpperCase() + words.slice(1) : 'Event';
}

function levelsText(levels: unknown, titles: Readonly<Record<string, string>>): string {
  const list = Array.isArray(levels) ? levels.map(str).filter((x): x is string => x !== null) : [];
  return list.map((l) => mdText(titles[l] ?? l, 60)).join(' + ');
}

/** Who did it: the event's actor, else its `by`. Slack ids get the name the requests recorded. */
function eventActor(e: PostmortemEvent, people: ReadonlyMap<string, PostmortemPerson>): string {
  const raw = e.actor ?? str(e.data.by);
  if (!raw) return 'qnwis-chatops';
  const person = people.get(raw);
  if (person) return personText(person);
  return SYSTEM_ACTORS[raw] ?? mdText(raw, 80);
}

/** One timeline event as a sentence (escaped Markdown). */
export function describeEvent(
  e: PostmortemEvent,
  ctx: {
    readonly incident: Pick<PostmortemIncident, 'alertname'>;
    readonly alerts: readonly AlertState[];
    readonly levelTitles?: Readonly<Record<string, string>>;
  },
): string {
  const d = e.data;
  const s = (k: string, max = 300) => {
    const v = str(d[k]);
    return v === null ? '' : mdText(v, max);
  };
  const alert = ctx.alerts.find((a) => a.fingerprint === str(d.fingerprint));
  const alertname = mdText(alert?.labels.alertname ?? ctx.incident.alertname, 80);
  const on = s('host') ? ` on ${s('host')}` : '';
  const titles = ctx.levelTitles ?? {};
  switch (e.kind) {
    case 'opened':
      return `Incident opened as ${s('severity') || 'unknown severity'}`;
    case 'alert_firing': {
      const summary = alert?.annotations.summary ? `: ${mdText(alert.annotations.summary, 200)}` : '';
      return `Alert ${alertname} ${d.refired === true ? 'fired again' : 'firing'}${on}${summary}`;
    }
    case 'alert_resolved':
      return `Alert ${alertname} resolved${on}`;
    case 'severity_changed':
      return `Severity changed ${s('from')} → ${s('to')}`;
    case 'resolved':
      return 'Incident resolved: every alert resolved in Alertmanager';
    case 'resolved_by_hand':
      return `Incident resolved by hand${s('note') ? `: “${s('note', 500)}”` : ''}`;
    case 'resolved_in_pagerduty':
      return 'Resolved the PagerDuty incident';
    case 'diagnosed': {
      const took = typeof d.durationMs === 'number' ? ` in ${formatRun(d.durationMs)}` : '';
      return `Diagnosed by playbook ${s('playbook') ? code(String(d.playbook)) : '(unnamed)'}${took}: ${s('verdict', 500) || 'no verdict'}`;
    }
    case 'command':
      return `Command ${s('requestId')}: ${s('line', 300)}`;
    case 'acknowledged':
      return `Acknowledged${s('source') ? ` (via ${s('source')})` : ''}`;
    case 'escalated':
      return `Escalated in PagerDuty${s('detail') ? `: ${s('detail')}` : ''}`;
    case 'escalation': {
      const who = levelsText(d.levels, titles);
      const paged = d.page === true || d.paged === true ? ', paged' : '';
      const msg = s('message', 300);
      return `Escalated${who ? ` to ${who}` : ''}${paged}${msg ? `: ${msg}` : ''}`;
    }
    case 'reminder': {
      const msg = s('message', 300);
      const what = s('timerKind') || (str(d.kind) ? mdText(String(d.kind), 60) : '');
      return `Reminder${what ? ` (${what})` : ''}${msg ? `: ${msg}` : ''}`;
    }
    case 'snoozed':
      return `Reminders snoozed${s('until') ? ` until ${mdText(utcOf(d.until) ?? String(d.until), 40)}` : ''}`;
    case 'reassigned': {
      const to = s('detail') || s('to') || levelsText(d.levels, titles);
      return `Reassigned${to ? ` to ${to}` : ''}`;
    }
    case 'annotated':
      return `Note: ${s('detail', 500)}`;
    case 'paged':
      return 'Paged through PagerDuty';
    case 'page_resolved':
      return 'PagerDuty alert resolved';
    case 'postmortem_linked':
      return `Post-mortem linked: ${s('url', 300)}`;
    case 'postmortem_drafted':
      return 'Post-mortem draft posted in the thread';
    default: {
      const summary = dataSummary(d);
      return `${mdText(humanKind(e.kind), 80)}${summary ? ` (${summary})` : ''}`;
    }
  }
}

function utcOf(v: unknown): string | null {
  const t = typeof v === 'string' || typeof v === 'number' ? new Date(v) : null;
  return t && Number.isFinite(t.getTime()) ? `${utcStamp(t)} UTC` : null;
}

function botOr(p: PostmortemPerson | null): string {
  return p ? personText(p) : 'qnwis-chatops (worker)';
}

/** A request's entries on the timeline: from its audit trail, or from its row when there is none. */
function commandLines(c: PostmortemCommand): { at: Date; actor: string; text: string }[] {
  const what = `${code(c.summary, 120)} (${mdText(c.id, 20)})`;
  // Transition rows read "restart app-02: succeeded: …": the command is named already.
  const own = (summary: string) =>
    mdText(summary.startsWith(`${c.summary}: `) ? summary.slice(c.summary.length + 2) : summary, 300);
  if (c.trail.length > 0) {
    return c.trail
      .filter((t) => t.kind !== 'step')
      .map((t) => {
        const text = (() => {
          switch (t.kind) {
            case 'request':
              return `Requested ${what}`;
            case 'approval':
              return `Approved ${what}`;
            case 'rejection':
              return `Rejected ${what}: ${own(t.summary)}`;
            case 'start':
              return `Started ${what}`;
            case 'result':
              return `Finished ${what}: ${own(t.summary)}`;
            default:
              return `${mdText(humanKind(t.kind), 40)} ${what}: ${own(t.summary)}`;
          }
        })();
        return { at: t.at, actor: botOr(t.actor), text };
      });
  }
  const out: { at: Date; actor: string; text: string }[] = [
    { at: c.requestedAt, actor: personText(c.requester), text: `Requested ${what}` },
    ...c.approvals.map((a) => ({ at: a.at, actor: personText(a), text: `Approved ${what}` })),
  ];
  if (c.startedAt) out.push({ at: c.startedAt, actor: botOr(null), text: `Started ${what}` });
  if (c.finishedAt)
    out.push({
      at: c.finishedAt,
      actor: botOr(null),
      text: `Finished ${what}: ${mdText(c.state, 20)}${c.stateDetail ? `: ${mdText(c.stateDetail, 300)}` : ''}`,
    });
  return out;
}

/** Everyone the requests and trail name, by Slack id (to name actors recorded by id only). */
function peopleOf(commands: readonly PostmortemCommand[]): Map<string, PostmortemPerson> {
  const people = new Map<string, PostmortemPerson>();
  const add = (p: PostmortemPerson | null) => {
    if (!p) return;
    const known = people.get(p.id);
    if (!known || (!known.name && p.name)) people.set(p.id, p);
  };
  for (const c of commands) {
    add(c.requester);
    for (const a of c.approvals) add(a);
    for (const t of c.trail) add(t.actor);
  }
  return people;
}

/** The timeline rows beyond this are cut from the middle (the start and the end matter most). */
export const MAX_TIMELINE_ROWS = 400;

export function timelineLines(
  input: PostmortemInput,
  people: ReadonlyMap<string, PostmortemPerson> = peopleOf(input.commands),
): { rows: Line[]; omitted: number } {
  const listed = new Set(input.commands.map((c) => c.id));
  let seq = 0;
  const lines: Line[] = [];
  for (const e of input.timeline) {
    // The request's own rows tell it, with its actors.
    if (e.kind === 'command' && listed.has(str(e.data.requestId) ?? '')) continue;
    lines.push({
      at: e.at,
      actor: eventActor(e, people),
      text: describeEvent(e, {
        incident: input.incident,
        alerts: input.alerts,
        ...(input.levelTitles ? { levelTitles: input.levelTitles } : {}),
      }),
      seq: seq++,
    });
  }
  for (const c of input.commands) for (const l of commandLines(c)) lines.push({ ...l, seq: seq++ });
  lines.sort((a, b) => a.at.getTime() - b.at.getTime() || a.seq - b.seq);
  if (lines.length <= MAX_TIMELINE_ROWS) return { rows: lines, omitted: 0 };
  const half = MAX_TIMELINE_ROWS / 2;
  return { rows: [...lines.slice(0, half), ...lines.slice(-half)], omitted: lines.length - 2 * half };
}

// ---------------------------------------------------------------------------------------------
// The draft

const RESULT_TEXT: Readonly<Record<StageResult, string>> = {
  met: '✅ met',
  missed: '❌ missed',
  pending: '⏳ pending',
  'not reached': '— not reached (ended inside the target)',
  'not required': '— no target for this severity',
};

const STAGE_TITLE: Readonly<Record<StageName, string>> = {
  acknowledge: 'Acknowledge',
  diagnose: 'Diagnose',
  mitigate: 'Mitigate',
  resolve: 'Resolve',
};

const TO_FILL = '_To fill._';

function at(d: Date | null | undefined): string {
  return d ? `${utcStamp(d)} UTC` : '—';
}

interface DiagnosisData {
  readonly playbook: string | null;
  readonly runbook: string | null;
  readonly verdict: string | null;
  readonly durationMs: number | null;
  readonly results: readonly {
    diagnostic: string;
    target: string;
    status: string;
    summary: string;
  }[];
}

function diagnosisOf(e: PostmortemEvent): DiagnosisData {
  const d = e.data;
  const results = Array.isArray(d.results) ? d.results : [];
  return {
    playbook: str(d.playbook),
    runbook: str(d.runbook),
    verdict: str(d.verdict),
    durationMs: typeof d.durationMs === 'number' ? d.durationMs : null,
    results: results
      .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null)
      .map((r) => ({
        diagnostic: str(r.diagnostic) ?? '?',
        target: str(r.target) ?? '?',
        status: str(r.status) ?? '?',
        summary: str(r.summary) || str(r.error) || '',
      })),
  };
}

/** Diagnostic results listed per diagnosis (a playbook runs about a dozen). */
const MAX_RESULTS = 40;

function hostsOf(alerts: readonly AlertState[]): string[] {
  return [...new Set(alerts.map((a) => a.labels.host).filter((h): h is string => Boolean(h)))];
}

/** A recorded actor: the name the requests gave that Slack id, else as recorded. */
function nameOf(raw: string, people: ReadonlyMap<string, PostmortemPerson>): string {
  const p = people.get(raw);
  return p ? personText(p) : mdText(raw, 80);
}

function resolutionText(input: PostmortemInput, people: ReadonlyMap<string, PostmortemPerson>): string {
  const i = input.incident;
  if (!i.resolvedAt) return `not resolved yet (${mdText(i.status, 20)})`;
  const byHand = [...input.timeline].reverse().find((e) => e.kind === 'resolved_by_hand');
  if (byHand) {
    const who = str(byHand.actor) ?? str(byHand.data.by) ?? 'someone';
    const note = i.resolveNote ?? str(byHand.data.note);
    return `${at(i.resolvedAt)}, by hand by ${nameOf(who, people)}${note ? `: “${mdText(note, 500)}”` : ''}`;
  }
  return `${at(i.resolvedAt)}, every alert resolved in Alertmanager`;
}

export function postmortemFilename(key: string): string {
  return `${key.replace(/[^A-Za-z0-9-]/g, '_')}-postmortem-draft.md`;
}

/** The draft, as Markdown. */
export function postmortemDraft(input: PostmortemInput): string {
  const i = input.incident;
  const t = input.targets ?? RUNBOOK_TARGETS_MS;
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  const hosts = hostsOf(input.alerts);
  const requirement = SEVERITY_REQUIREMENTS[i.severity];
  const mitigated = mitigatedAt(input);
  const end = i.resolvedAt ?? input.now;
  const due = i.resolvedAt ? new Date(i.resolvedAt.getTime() + t.postmortemMs) : null;
  const people = peopleOf(input.commands);

  push(`# Post-mortem (draft): ${mdText(i.key, 40)} · ${i.severity} ${mdText(i.alertname, 120)}`, '');
  push(
    `> Drafted by qnwis-chatops at ${at(input.now)} from the incident's alerts, timeline, command ` +
      'requests and audit trail. Everything below the line is recorded fact; sections marked ' +
      '_To fill_ need a person.' +
      (due
        ? ` The runbook asks for the post-mortem within ${formatSpan(t.postmortemMs)} of the resolution: by **${at(due)}**.`
        : ''),
    '',
    '---',
    '',
  );

  // Summary
  push('## Summary', '');
  const ack = i.acknowledgedAt
    ? `${at(i.acknowledgedAt)}${i.acknowledgedBy ? ` by ${nameOf(i.acknowledgedBy, people)}` : ''}`
    : 'not acknowledged';
  const diag = i.diagnosedAt
    ? `${at(i.diagnosedAt)}${i.diagnosisVerdict ? `: ${mdText(i.diagnosisVerdict, 300)}` : ''}`
    : 'no diagnosis recorded';
  const links = [link('Slack thread', i.slackPermalink), link('PagerDuty incident', i.pdHtmlUrl)]
    .filter((l) => l.startsWith('['))
    .join(' · ');
  push(
    ...table(
      ['', ''],
      [
        ['Incident', `${mdText(i.key, 40)}${links ? ` (${links})` : ''}`],
        ['Alert', `${mdText(i.alertname, 120)} (runbook: ${mdText(runbookSection(i.alertname), 160)})`],
        ['Severity', `${i.severity}: ${mdText(requirement.meaning, 200)}`],
        ['Status', mdText(i.status, 20)],
        ['Hosts', hosts.length > 0 ? mdText(hosts.join(', '), 300) : '—'],
        ['Channel', `#${mdText(i.channel, 80)}`],
        ['Opened', at(i.openedAt)],
        ['Acknowledged', ack],
        ['Diagnosed', diag],
        ['Mitigated', mitigated ? at(mitigated) : 'no mitigation recorded'],
        ['Resolved', resolutionText(input, people)],
        ['Duration', `${formatSpan(end.getTime() - i.openedAt.getTime())}${i.resolvedAt ? '' : ' so far'}`],
      ],
    ),
    '',
  );

  // The clock
  push("## Response against the runbook's clock", '');
  push('Counted from the opening (the first alert). Targets from the Incident Response Workflow.', '');
  const stages = responseStages(input);
  push(
    ...table(
      ['Stage', 'Target', 'Reached (UTC)', 'Took', 'Result'],
      stages.map((s) => [
        STAGE_TITLE[s.stage],
        `< ${formatSpan(s.targetMs)}`,
        s.at ? utcStamp(s.at) : '—',
        s.tookMs !== null ? formatSpan(s.tookMs) : '—',
        RESULT_TEXT[s.result],
      ]),
    ),
  );
  const pm = i.postmortemUrl
    ? `linked: ${link('post-mortem', i.postmortemUrl)}`
    : due
      ? input.now.getTime() > due.getTime()
        ? '❌ overdue'
        : '⏳ open'
      : '— after the resolution';
  push(
    row([
      'Post-mortem',
      `< ${formatSpan(t.postmortemMs)} after resolution`,
      due ? `due ${utcStamp(due)}` : '—',
      '—',
      pm,
    ]),
    '',
  );

  // Timeline
  push('## Timeline', '');
  const { rows, omitted } = timelineLines(input);
  if (rows.length === 0) push('Nothing recorded.', '');
  else {
    push(
      ...table(
        ['Time (UTC)', 'Actor', 'Event'],
        rows.map((l) => [utcStamp(l.at), l.actor, l.text]),
      ),
      '',
    );
    if (omitted > 0)
      push(`_${omitted} entries in the middle are left out; the incident's thread has them._`, '');
  }

  // Alerts
  push('## Alerts', '');
  if (input.alerts.length === 0) push('No alerts recorded.', '');
  else {
    push(
      ...table(
        ['Alert', 'Host', 'Status', 'Started (UTC)', 'Ended (UTC)', 'Summary'],
        input.alerts.map((a) => {
          const ended = a.endsAt ? new Date(a.endsAt) : null;
          return [
            mdText(a.labels.alertname ?? i.alertname, 80),
            mdText(a.labels.host ?? '—', 80),
            mdText(a.status, 12),
            utcStamp(new Date(a.startsAt)),
            ended && Number.isFinite(ended.getTime()) && ended.getUTCFullYear() > 1 ? utcStamp(ended) : '—',
            mdText(a.annotations.summary ?? a.annotations.description ?? '', 300),
          ];
        }),
      ),
      '',
    );
  }

  // Diagnosis
  push('## Diagnosis', '');
  const diagnoses = input.timeline.filter((e) => e.kind === 'diagnosed');
  const last = diagnoses.at(-1);
  if (!last) {
    push(i.diagnosisVerdict ? `Verdict: ${mdText(i.diagnosisVerdict, 1000)}` : 'No diagnosis recorded.', '');
  } else {
    const d = diagnosisOf(last);
    push(
      `Playbook ${d.playbook ? code(d.playbook) : '(unnamed)'}` +
        `${d.runbook ? ` (runbook: ${mdText(d.runbook, 200)})` : ''}, ran at ${at(last.at)}` +
        `${d.durationMs !== null ? ` in ${formatRun(d.durationMs)}` : ''}` +
        (diagnoses.length > 1 ? ` (the last of ${diagnoses.length} runs)` : '') +
        '.',
      '',
      `**Verdict:** ${d.verdict ? mdText(d.verdict, 1000) : 'none'}`,
      '',
    );
    if (d.results.length > 0) {
      push(
        ...table(
          ['Check', 'Target', 'Status', 'Finding'],
          d.results
            .slice(0, MAX_RESULTS)
            .map((r) => [
              code(r.diagnostic, 60),
              mdText(r.target, 60),
              mdText(r.status, 20),
              mdText(r.summary, 300),
            ]),
        ),
        '',
      );
      if (d.results.length > MAX_RESULTS)
        push(`_${d.results.length - MAX_RESULTS} more checks not listed._`, '');
    }
  }

  // Commands
  push('## Commands', '');
  if (input.commands.length === 0) push('No commands were requested for this incident.', '');
  for (const c of input.commands) {
    push(`### ${mdText(c.id, 20)}: ${code(c.summary, 160)}, ${mdText(c.state, 20)}`, '');
    const rejection = c.trail.find((x) => x.kind === 'rejection');
    const cancel = c.trail.find((x) => x.kind === 'cancel');
    const rows: string[][] = [
      [
        'Command',
        `${code(c.command, 60)}, risk ${mdText(c.risk, 40)}${c.destructive ? ', destructive' : ''}${c.breakGlass ? ', under break-glass' : ''}`,
      ],
      ['Requested', `${at(c.requestedAt)} by ${personText(c.requester)}`],
      [
        'Approved by',
        c.approvals.length > 0
          ? c.approvals.map((a) => `${personText(a)} at ${at(a.at)}`).join('; ')
          : 'nobody',
      ],
    ];
    if (rejection)
      rows.push([
        'Rejected',
        `${at(rejection.at)} by ${botOr(rejection.actor)}: ${mdText(rejection.summary, 300)}`,
      ]);
    if (cancel)
      rows.push(['Cancelled', `${at(cancel.at)} by ${botOr(cancel.actor)}: ${mdText(cancel.summary, 300)}`]);
    rows.push(['Started', at(c.startedAt)]);
    rows.push([
      'Result',
      `${mdText(c.state, 20)}${c.finishedAt ? ` at ${at(c.finishedAt)}` : ''}${c.stateDetail ? `: ${mdText(c.stateDetail, 500)}` : ''}`,
    ]);
    if (c.verification) {
      const v = c.verification;
      const ba = [str(v.before), str(v.after)];
      rows.push([
        'Verification',
        `${v.ok === true ? '✅ passed' : v.ok === false ? '❌ did not pass' : 'unknown'}` +
          `${v.detail ? `: ${mdText(v.detail, 300)}` : ''}` +
          (ba[0] !== null || ba[1] !== null
            ? ` (before: ${mdText(ba[0] ?? '—', 200)}; after: ${mdText(ba[1] ?? '—', 200)})`
            : ''),
      ]);
    }
    if (c.steps.length > 0) {
      rows.push([
        'Steps',
        c.steps
          .map((s) => `${code(s.stepId, 60)} ${s.status === 'done' ? '✓' : mdText(s.status, 12)}`)
          .join(', '),
      ]);
    }
    push(...table(['', ''], rows), '');
  }

  // Acknowledgements and escalations
  push('## Acknowledgements and escalations', '');
  const responses = timelineLines(
    { ...input, timeline: input.timeline.filter((e) => RESPONSE_KINDS.has(e.kind)), commands: [] },
    people,
  ).rows;
  if (responses.length === 0) push('None recorded.', '');
  else push(...responses.map((l) => `- ${utcStamp(l.at)} UTC, ${l.actor}: ${l.text}`), '');

  // SLOs
  push('## SLOs', '');
  const related = new Set(SLOS_BY_ALERT[i.alertname] ?? []);
  push(
    ...table(
      ['SLO', 'Target', 'Window', 'Threatened by this alert', 'During the incident'],
      RUNBOOK_SLOS.map((s) => [
        s.name,
        s.target,
        s.window,
        related.has(s.name) ? 'yes' : '—',
        related.has(s.name) ? TO_FILL : '',
      ]),
    ),
    '',
  );
  const durationMs = end.getTime() - i.openedAt.getTime();
  push(
    `If the service was fully unavailable for the whole incident (${formatSpan(durationMs)}), it used ` +
      `${((durationMs / AVAILABILITY_BUDGET_MS) * 100).toFixed(1)}% of the 30-day availability error budget ` +
      `(${formatSpan(AVAILABILITY_BUDGET_MS)} at 99.5%). _Replace with the measured figures (Grafana: SLO compliance)._`,
    '',
  );

  // What a person writes
  push('## Impact', '', `${TO_FILL} Who was affected, how, for how long (users, queries, dashboards).`, '');
  push('## Root cause', '');
  push(
    `${TO_FILL}${i.diagnosisVerdict ? ` The bot's diagnosis said: ${mdText(i.diagnosisVerdict, 500)}` : ''}`,
    '',
  );
  push('## Action items', '');
  push(...table(['Action', 'Owner', 'Due', 'Ticket'], [[TO_FILL, '', '', '']]), '');
  push(
    '## Runbook updates',
    '',
    `${TO_FILL} What the runbook (${mdText(runbookSection(i.alertname), 160)}) should say differently.`,
    '',
  );
  return `${out.join('\n').trimEnd()}\n`;
}
