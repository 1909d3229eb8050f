/**
 * The post-mortem draft job (issue 7, item 5): once an incident is resolved, the Markdown draft
 * built from its record (src/incidents/postmortem.ts) is uploaded as a file into the incident's
 * Slack thread, once per resolution: the job id carries the resolution instant, and the timeline
 * gets a `postmortem_drafted` event that a re-run (a job re-added after its record was trimmed)
 * finds and stops at. `/qnwis postmortem ID` builds the same draft on demand.
 */
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { ChatClient } from '../bot/chat.js';
import { SlackRateLimitedError } from '../errors.js';
import type { EscalationMatrix } from '../incidents/escalation.js';
import {
  type PostmortemCommand,
  type PostmortemInput,
  type PostmortemPerson,
  postmortemDraft,
  postmortemFilename,
  type ResponseTargetsMs,
  utcStamp,
} from '../incidents/postmortem.js';
import type { Severity } from '../incidents/runbook.js';
import type { Logger } from '../observability/logger.js';
import { AuditTrail } from '../store/audit-trail.js';
import type { IncidentRow, IncidentStore } from '../store/incidents.js';
import { RequestStore } from '../store/requests.js';
import type { ChannelPacer } from './pacing.js';
import { diagnoseJobs } from './queues.js';

/** The timeline event that records a posted draft (the thread does not tell it). */
export const POSTMORTEM_DRAFTED = 'postmortem_drafted';

/** Audit rows read per request: far more than any request has (request, approvals, steps, result). */
const TRAIL_ROWS_PER_REQUEST = 1000;

/** The clock, the marks that apply and the level titles, from the escalation matrix. */
export function clockOf(
  matrix: EscalationMatrix,
  severity: Severity,
): Pick<PostmortemInput, 'targets' | 'plan' | 'levelTitles'> {
  const targets: ResponseTargetsMs = {
    acknowledgeMs: matrix.ack.escalationMs,
    diagnoseMs: matrix.lifecycle.diagnoseMs,
    mitigateMs: matrix.lifecycle.mitigateMs,
    resolveMs: matrix.lifecycle.resolveMs,
    postmortemMs: matrix.lifecycle.postmortemMs,
  };
  const plan = matrix.severities[severity];
  return {
    targets,
    plan: { acknowledge: plan.acknowledge, workflow: plan.workflow },
    levelTitles: Object.fromEntries(Object.entries(matrix.levels).map(([name, l]) => [name, l.title])),
  };
}

/**
 * Everything the draft is built from, read from the bot's database: the incident, its alerts and
 * timeline, and its command requests with their approvals and audit-trail rows. Undefined when
 * there is no such incident.
 */
export async function loadPostmortemInput(
  store: IncidentStore,
  incidentId: number,
  opts: { now?: Date; matrix?: EscalationMatrix } = {},
): Promise<PostmortemInput | undefined> {
  const row = await store.get(incidentId);
  if (!row) return undefined;
  const requests = new RequestStore(store.db, null);
  const trail = new AuditTrail(store.db);
  const [alerts, timeline, rows] = await Promise.all([
    store.alerts(incidentId),
    store.timeline(incidentId),
    requests.forIncident(incidentId),
  ]);
  const commands = await Promise.all(
    rows.map(async (r): Promise<PostmortemCommand> => {
      const [approvals, audit] = await Promise.all([
        requests.approvals(r.id),
        trail.list({ requestId: r.id, limit: TRAIL_ROWS_PER_REQUEST }),
      ]);
      return {
        id: r.id,
        command: r.command,
        summary: r.summary,
        risk: r.risk,
        destructive: r.destructive,
        breakGlass: r.breakGlass,
        requester: { id: r.requester.id, name: r.requester.name, level: r.requester.level },
        requestedAt: r.requestedAt,
        approvals: approvals.map((a) => ({
          id: a.approverId,
          name: a.approverName,
          level: a.approverLevel,
          at: a.at,
        })),
        approvedAt: r.approvedAt,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        state: r.state,
        stateDetail: r.stateDetail,
        steps: r.steps,
        verification: r.verification as PostmortemCommand['verification'],
        // The trail lists newest first.
        trail: [...audit].reverse().map((a) => ({
          kind: a.kind,
          at: a.at,
          actor: a.actorId
            ? ({ id: a.actorId, name: a.actorName, level: a.actorRole } satisfies PostmortemPerson)
            : null,
          summary: a.summary,
        })),
      };
    }),
  );
  return {
    incident: incidentOf(row),
    alerts,
    timeline: timeline.map((e) => ({ at: e.at, kind: e.kind, actor: e.actor, data: e.data })),
    commands,
    now: opts.now ?? new Date(),
    ...(opts.matrix ? clockOf(opts.matrix, row.severity) : {}),
  };
}

function incidentOf(row: IncidentRow): PostmortemInput['incident'] {
  return {
    key: row.key,
    alertname: row.alertname,
    severity: row.severity,
    status: row.status,
    channel: row.channel,
    openedAt: row.openedAt,
    acknowledgedAt: row.acknowledgedAt,
    acknowledgedBy: row.acknowledgedBy,
    diagnosedAt: row.diagnosedAt,
    diagnosisVerdict: row.diagnosisVerdict,
    mitigatedAt: row.mitigatedAt,
    resolvedAt: row.resolvedAt,
    resolveNote: row.resolveNote,
    slackPermalink: row.slackPermalink,
    pdHtmlUrl: row.pdHtmlUrl,
    postmortemUrl: row.postmortemUrl,
  };
}

export interface PostmortemDeps {
  readonly store: IncidentStore;
  readonly chat: ChatClient;
  readonly log: Logger;
  /** The configured escalation matrix (targets, level titles); default: the runbook's clock. */
  readonly matrix?: EscalationMatrix;
  readonly now?: () => Date;
}

export type PostmortemOutcome =
  | { readonly posted: true; readonly fileId: string; readonly filename: string }
  | {
      readonly posted: false;
      readonly reason: 'no-incident' | 'not-resolved' | 'in-digest' | 'no-thread' | 'already-posted';
    };

/** Whether this resolution's draft was posted already. */
function alreadyPosted(
  timeline: readonly { kind: string; data: Readonly<Record<string, unknown>> }[],
  resolvedAt: Date,
): boolean {
  return timeline.some(
    (e) => e.kind === POSTMORTEM_DRAFTED && e.data.resolvedAt === resolvedAt.toISOString(),
  );
}

/**
 * Uploads the draft into the incident's thread, once per resolution. Slack failures propagate
 * typed (ChatClient): `SlackRateLimitedError` is the caller's to wait out.
 */
export async function postPostmortem(deps: PostmortemDeps, incidentId: number): Promise<PostmortemOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const row = await deps.store.get(incidentId);
  if (!row) return { posted: false, reason: 'no-incident' };
  if (row.status !== 'resolved' || !row.resolvedAt) return { posted: false, reason: 'not-resolved' };
  // A storm digest has no thread of its own; `/qnwis postmortem KEY` still builds it.
  if (!row.slackTs) return { posted: false, reason: row.digestId ? 'in-digest' : 'no-thread' };
  const input = await loadPostmortemInput(deps.store, incidentId, {
    now,
    ...(deps.matrix ? { matrix: deps.matrix } : {}),
  });
  if (!input) return { posted: false, reason: 'no-incident' };
  if (alreadyPosted(input.timeline, row.resolvedAt)) return { posted: false, reason: 'already-posted' };

  const markdown = postmortemDraft(input);
  const filename = postmortemFilename(row.key);
  const due = new Date(row.resolvedAt.getTime() + (input.targets?.postmortemMs ?? 48 * 3_600_000));
  const uploaded = await deps.chat.uploadFile(
    row.slackChannelId ?? row.channel,
    {
      filename,
      title: `${row.key} post-mortem draft`,
      content: Buffer.from(markdown, 'utf8'),
      initialComment:
        `:memo: Post-mortem draft for ${row.key}, from its timeline. The runbook asks for the ` +
        `post-mortem by ${utcStamp(due)} UTC: fill in impact, root cause and action items.`,
    },
    row.slackTs,
  );
  await deps.store.addEvent(
    incidentId,
    {
      kind: POSTMORTEM_DRAFTED,
      fileId: uploaded.fileId,
      filename,
      resolvedAt: row.resolvedAt.toISOString(),
    },
    'qnwis-chatops',
  );
  deps.log.info({ incidentId, fileId: uploaded.fileId }, 'post-mortem draft posted');
  return { posted: true, fileId: uploaded.fileId, filename };
}

/** The `incident-postmortem` job on the `diagnose` queue: paced per channel like the chart. */
export function createPostmortemProcessor(deps: PostmortemDeps & { readonly pacer: ChannelPacer }) {
  const later = async (job: Job, token: string | undefined, ms: number): Promise<never> => {
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  };
  return async function process(job: Job, token?: string): Promise<string> {
    const { incidentId } = diagnoseJobs['incident-postmortem'].parse(job.data);
    const log = deps.log.child({ jobId: job.id, incidentId });
    const row = await deps.store.get(incidentId);
    if (!row) throw new UnrecoverableError(`incident ${incidentId} does not exist`);
    // The incident's message is posted by its Slack sync, which may still be queued.
    if (!row.slackTs && !row.digestId) return later(job, token, 1000);
    const channel = row.slackChannelId ?? row.channel;
    const wait = await deps.pacer.take(channel);
    if (wait > 0) return later(job, token, wait);
    try {
      const outcome = await postPostmortem({ ...deps, log }, incidentId);
      return outcome.posted ? outcome.filename : outcome.reason;
    } catch (err) {
      if (err instanceof SlackRateLimitedError) {
        await deps.pacer.blockFor(channel, err.retryAfterSec * 1000);
        return later(job, token, err.retryAfterSec * 1000);
      }
      throw err;
    }
  };
}
