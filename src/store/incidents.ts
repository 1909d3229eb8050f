/**
 * Incidents in the bot's PostgreSQL. `recordNotification` is the durable step behind the
 * Alertmanager webhook: when it returns, the alerts are stored; when it throws, nothing is, and
 * the webhook answers 503 so Alertmanager retries.
 *
 * Concurrency: deliveries of the same group (retries, HA Alertmanagers) serialise on a transaction
 * advisory lock keyed by the group; the pure `applyNotification` decides what changed.
 */
import type pg from 'pg';
import { StoreUnavailableError } from '../errors.js';
import type { AlertmanagerAlert, AlertmanagerWebhook } from '../incidents/alertmanager.js';
import type { EscalationIncident } from '../incidents/escalation.js';
import {
  type AlertState,
  applyNotification,
  type IncidentEvent,
  type IncidentState,
  type IncidentStatus,
} from '../incidents/incident.js';
import type { Router } from '../incidents/routing.js';
import type { Severity } from '../incidents/runbook.js';
import type { SeverityPolicy } from '../incidents/severity.js';
import type { ProposedAction } from '../ops/playbooks.js';
import type { Db } from './db.js';

export interface IncidentRow {
  id: number;
  key: string;
  groupKey: string;
  alertname: string;
  severity: Severity;
  status: IncidentStatus;
  channel: string;
  commonLabels: Record<string, string>;
  externalUrl: string;
  slackChannelId: string | null;
  slackTs: string | null;
  slackPermalink: string | null;
  slackRenderedHash: string | null;
  digestId: number | null;
  threadCursor: number;
  pdDedupKey: string | null;
  pdStatus: 'triggered' | 'resolved' | null;
  pdIncidentId: string | null;
  pdHtmlUrl: string | null;
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
  /** The playbook's one-line verdict, once it has run. */
  diagnosisVerdict: string | null;
  diagnosedAt: Date | null;
  proposedActions: ProposedAction[];
  /** One line per command that ran for this incident, oldest first ("✅ restart app-02 succeeded (R-…)"). */
  commandsDone: string[];
  /** A command for it succeeded, or someone marked it mitigated (the runbook's 1-hour mark). */
  mitigatedAt: Date | null;
  /** Reminders wait until then (bounded snooze). */
  snoozedUntil: Date | null;
  postmortemUrl: string | null;
  postmortemLinkedAt: Date | null;
  /** The note of a resolution by hand. */
  resolveNote: string | null;
  openedAt: Date;
  resolvedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface TimelineEntry {
  id: number;
  incidentId: number;
  at: Date;
  kind: string;
  actor: string | null;
  data: Record<string, unknown>;
}

export interface RecordContext {
  router: Router;
  appHosts: readonly string[];
  policy?: SeverityPolicy;
  /** Alerts that are heartbeats (e.g. Watchdog): recorded, never an incident. */
  heartbeatAlerts: ReadonlySet<string>;
}

export interface RecordResult {
  /** Incidents this notification touched, with whether anything visible changed. */
  incidents: { id: number; changed: boolean; opened: boolean }[];
  heartbeat: boolean;
  /** Receipts that were new (not re-sends). */
  newReceipts: number;
}

const INCIDENT_COLUMNS = `id, key, group_key, alertname, severity, status, channel, common_labels, external_url,
  slack_channel_id, slack_ts, slack_permalink, slack_rendered_hash, digest_id, thread_cursor,
  pd_dedup_key, pd_status, pd_incident_id, pd_html_url, acknowledged_by, acknowledged_at,
  diagnosis_verdict, diagnosed_at, proposed_actions, commands_done, mitigated_at, snoozed_until, postmortem_url,
  postmortem_linked_at, resolve_note, opened_at, resolved_at, created_at, updated_at`;

function toIncident(r: Record<string, unknown>): IncidentRow {
  return {
    id: Number(r.id),
    key: r.key as string,
    groupKey: r.group_key as string,
    alertname: r.alertname as string,
    severity: r.severity as Severity,
    status: r.status as IncidentStatus,
    channel: r.channel as string,
    commonLabels: r.common_labels as Record<string, string>,
    externalUrl: r.external_url as string,
    slackChannelId: (r.slack_channel_id as string | null) ?? null,
    slackTs: (r.slack_ts as string | null) ?? null,
    slackPermalink: (r.slack_permalink as string | null) ?? null,
    slackRenderedHash: (r.slack_rendered_hash as string | null) ?? null,
    digestId: r.digest_id === null ? null : Number(r.digest_id),
    threadCursor: Number(r.thread_cursor),
    pdDedupKey: (r.pd_dedup_key as string | null) ?? null,
    pdStatus: (r.pd_status as IncidentRow['pdStatus']) ?? null,
    pdIncidentId: (r.pd_incident_id as string | null) ?? null,
    pdHtmlUrl: (r.pd_html_url as string | null) ?? null,
    acknowledgedBy: (r.acknowledged_by as string | null) ?? null,
    acknowledgedAt: (r.acknowledged_at as Date | null) ?? null,
    diagnosisVerdict: (r.diagnosis_verdict as string | null) ?? null,
    diagnosedAt: (r.diagnosed_at as Date | null) ?? null,
    proposedActions: (r.proposed_actions as ProposedAction[] | null) ?? [],
    commandsDone: (r.commands_done as string[] | null) ?? [],
    mitigatedAt: (r.mitigated_at as Date | null) ?? null,
    snoozedUntil: (r.snoozed_until as Date | null) ?? null,
    postmortemUrl: (r.postmortem_url as string | null) ?? null,
    postmortemLinkedAt: (r.postmortem_linked_at as Date | null) ?? null,
    resolveNote: (r.resolve_note as string | null) ?? null,
    openedAt: r.opened_at as Date,
    resolvedAt: (r.resolved_at as Date | null) ?? null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

/** What the runbook's clock reads of an incident (src/incidents/escalation.ts). */
export function clockOf(row: IncidentRow): EscalationIncident {
  const ms = (d: Date | null) => (d ? d.getTime() : null);
  return {
    id: row.id,
    severity: row.severity,
    openedAt: row.openedAt.getTime(),
    acknowledgedAt: ms(row.acknowledgedAt),
    diagnosedAt: ms(row.diagnosedAt),
    mitigatedAt: ms(row.mitigatedAt),
    resolvedAt: ms(row.resolvedAt),
    postmortemLinkedAt: ms(row.postmortemLinkedAt),
    snoozedUntil: ms(row.snoozedUntil),
  };
}

function toAlertState(r: Record<string, unknown>): AlertState {
  return {
    fingerprint: r.fingerprint as string,
    status: r.status as 'firing' | 'resolved',
    labels: r.labels as Record<string, string>,
    annotations: r.annotations as Record<string, string>,
    startsAt: (r.starts_at as Date).toISOString(),
    endsAt: r.ends_at ? (r.ends_at as Date).toISOString() : null,
    generatorURL: r.generator_url as string,
  };
}

/** Wraps connection-level failures so the webhook can answer 503 (retry) rather than 500. */
function unavailable(err: unknown): never {
  const code = (err as { code?: string }).code ?? '';
  if (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      '57P01',
      '57P03',
      '08006',
      '08001',
      '08003',
      '53300',
    ].includes(code) ||
    /timeout|terminat|Connection/i.test((err as Error).message ?? '')
  ) {
    throw new StoreUnavailableError(`bot database unavailable: ${(err as Error).message}`, { cause: err });
  }
  throw err;
}

export class IncidentStore {
  readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.db.connect();
    } catch (err) {
      return unavailable(err);
    }
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      return unavailable(err);
    } finally {
      client.release();
    }
  }

  /** Stores one Alertmanager notification; durable when it resolves. */
  async recordNotification(
    payload: AlertmanagerWebhook,
    ctx: RecordContext,
    now = new Date(),
  ): Promise<RecordResult> {
    // Only a firing heartbeat is a sign of life: Alertmanager's last "resolved" Watchdog after
    // Prometheus died must not reset the dead-man switch.
    const heartbeats = payload.alerts.filter(
      (a) => ctx.heartbeatAlerts.has(a.labels.alertname ?? '') && a.status === 'firing',
    );
    const alerts = payload.alerts.filter((a) => !ctx.heartbeatAlerts.has(a.labels.alertname ?? ''));
    return this.tx(async (c) => {
      for (const a of heartbeats) {
        await c.query(
          `INSERT INTO heartbeats (name, last_seen) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET last_seen = EXCLUDED.last_seen, deliveries = heartbeats.deliveries + 1`,
          [a.labels.alertname, now],
        );
      }
      if (alerts.length === 0) return { incidents: [], heartbeat: heartbeats.length > 0, newReceipts: 0 };

      // Alertmanager groups by its own group_by; one notification is one group, but be robust to
      // receivers that group alerts of several names: one incident per (groupKey, alertname).
      const byName = new Map<string, AlertmanagerAlert[]>();
      for (const a of alerts) {
        const name = a.labels.alertname ?? 'unknown';
        byName.set(name, [...(byName.get(name) ?? []), a]);
      }
      const touched: RecordResult['incidents'] = [];
      let newReceipts = 0;
      for (const [alertname, group] of byName) {
        const groupKey = byName.size === 1 ? payload.groupKey : `${payload.groupKey}/${alertname}`;
        await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [groupKey]);

        // Receipts first: they tell re-sends from news.
        const fresh: AlertmanagerAlert[] = [];
        for (const a of group) {
          const r = await c.query(
            `INSERT INTO alert_receipts (group_key, fingerprint, starts_at, status, alertname)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (group_key, fingerprint, starts_at, status)
             DO UPDATE SET last_seen = now(), deliveries = alert_receipts.deliveries + 1
             RETURNING (xmax = 0) AS inserted`,
            [groupKey, a.fingerprint, a.startsAt, a.status, alertname],
          );
          if (r.rows[0]?.inserted) {
            fresh.push(a);
            newReceipts++;
          }
        }

        const open = await c.query(
          `SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE group_key = $1 AND status <> 'resolved' FOR UPDATE`,
          [groupKey],
        );
        const row = open.rows[0] ? toIncident(open.rows[0]) : undefined;
        if (row) {
          await c.query('UPDATE incidents SET last_seen = now() WHERE id = $1', [row.id]);
          await c.query(
            'UPDATE incident_alerts SET last_seen = now() WHERE incident_id = $1 AND fingerprint = ANY($2)',
            [row.id, group.map((a) => a.fingerprint)],
          );
        }
        if (fresh.length === 0) {
          if (row) touched.push({ id: row.id, changed: false, opened: false });
          continue;
        }
        const current = row ? await this.loadState(c, row) : undefined;
        const transition = applyNotification(current, alertname, fresh, {
          appHosts: ctx.appHosts,
          ...(ctx.policy ? { policy: ctx.policy } : {}),
        });
        if (!transition) continue; // resolved news about nothing open: kept as receipts only

        let incidentId: number;
        if (!row) {
          const idRes = await c.query(`SELECT nextval(pg_get_serial_sequence('incidents', 'id')) AS id`);
          incidentId = Number(idRes.rows[0]?.id);
          const labels = byName.size === 1 ? payload.commonLabels : commonLabelsOf(group);
          const openedAt = new Date(Math.min(...group.map((a) => Date.parse(a.startsAt))));
          await c.query(
            `INSERT INTO incidents (id, key, group_key, alertname, severity, status, channel, common_labels,
               external_url, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
            [
              incidentId,
              `QNWIS-${incidentId}`,
              groupKey,
              alertname,
              transition.next.severity,
              transition.next.status,
              ctx.router.channelFor({ ...labels, alertname }),
              JSON.stringify(labels),
              payload.externalURL,
              openedAt,
            ],
          );
        } else {
          incidentId = row.id;
          await c.query(
            `UPDATE incidents SET severity = $2, status = $3, updated_at = now(),
               resolved_at = CASE WHEN $3 = 'resolved' THEN now() ELSE NULL END
             WHERE id = $1`,
            [incidentId, transition.next.severity, transition.next.status],
          );
        }
        for (const a of transition.next.alerts.values()) {
          await c.query(
            `INSERT INTO incident_alerts (incident_id, fingerprint, status, labels, annotations, starts_at, ends_at, generator_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (incident_id, fingerprint) DO UPDATE SET status = EXCLUDED.status, labels = EXCLUDED.labels,
               annotations = EXCLUDED.annotations, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
               generator_url = EXCLUDED.generator_url, last_seen = now()`,
            [
              incidentId,
              a.fingerprint,
              a.status,
              JSON.stringify(a.labels),
              JSON.stringify(a.annotations),
              a.startsAt,
              a.endsAt,
              a.generatorURL,
            ],
          );
        }
        await c.query(
          `UPDATE alert_receipts SET incident_id = $1 WHERE group_key = $2 AND fingerprint = ANY($3) AND incident_id IS NULL`,
          [incidentId, groupKey, fresh.map((a) => a.fingerprint)],
        );
        for (const e of transition.events) await this.appendEvent(c, incidentId, e, 'alertmanager');
        touched.push({ id: incidentId, changed: transition.changed || !row, opened: !row });
      }
      return { incidents: touched, heartbeat: heartbeats.length > 0, newReceipts };
    });
  }

  private async loadState(c: pg.PoolClient, row: IncidentRow): Promise<IncidentState> {
    const res = await c.query('SELECT * FROM incident_alerts WHERE incident_id = $1', [row.id]);
    return {
      status: row.status,
      severity: row.severity,
      alerts: new Map(res.rows.map((r) => [r.fingerprint as string, toAlertState(r)])),
    };
  }

  private async appendEvent(
    c: pg.PoolClient | Db,
    incidentId: number,
    event: IncidentEvent | { kind: string; [k: string]: unknown },
    actor: string | null,
  ): Promise<void> {
    const { kind, ...data } = event;
    await c.query('INSERT INTO incident_events (incident_id, kind, actor, data) VALUES ($1, $2, $3, $4)', [
      incidentId,
      kind,
      actor,
      JSON.stringify(data),
    ]);
  }

  async get(id: number): Promise<IncidentRow | undefined> {
    const res = await this.db.query(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE id = $1`, [id]);
    return res.rows[0] ? toIncident(res.rows[0]) : undefined;
  }

  /**
   * Incidents whose Slack side is behind: never posted (nor listed in a digest), or with timeline
   * events the thread has not told yet. A job lost with a killed worker leaves exactly this.
   */
  async behindInSlack(olderThan: Date): Promise<IncidentRow[]> {
    const res = await this.db.query(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents i
       WHERE i.updated_at < $1 AND i.created_at > now() - interval '1 day' AND (
         (i.slack_ts IS NULL AND i.digest_id IS NULL)
         OR (i.slack_ts IS NOT NULL AND EXISTS (
           SELECT 1 FROM incident_events e WHERE e.incident_id = i.id AND e.id > i.thread_cursor AND e.at < $1)))
       ORDER BY i.id LIMIT 500`,
      [olderThan],
    );
    return res.rows.map(toIncident);
  }

  async openIncidents(): Promise<IncidentRow[]> {
    const res = await this.db.query(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE status <> 'resolved' ORDER BY id`,
    );
    return res.rows.map(toIncident);
  }

  /**
   * Incidents PagerDuty knows (paged) whose two sides could disagree: open ones, ones resolved in
   * the last day whose resolution PagerDuty may not have heard, and ones resolved in the last hour
   * with no acknowledgement recorded (one made in PagerDuty may have been missed).
   */
  async pagedIncidents(): Promise<IncidentRow[]> {
    const res = await this.db.query(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents
       WHERE pd_status IS NOT NULL AND (status <> 'resolved'
         OR (pd_status = 'triggered' AND resolved_at > now() - interval '1 day')
         OR (acknowledged_at IS NULL AND resolved_at > now() - interval '1 hour'))
       ORDER BY id LIMIT 500`,
    );
    return res.rows.map(toIncident);
  }

  async getByPagerDutyId(pdIncidentId: string): Promise<IncidentRow | undefined> {
    const res = await this.db.query(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE pd_incident_id = $1 ORDER BY id DESC LIMIT 1`,
      [pdIncidentId],
    );
    return res.rows[0] ? toIncident(res.rows[0]) : undefined;
  }

  async getByKey(key: string): Promise<IncidentRow | undefined> {
    const res = await this.db.query(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE key = $1`, [key]);
    return res.rows[0] ? toIncident(res.rows[0]) : undefined;
  }

  async alerts(id: number): Promise<AlertState[]> {
    const res = await this.db.query(
      'SELECT * FROM incident_alerts WHERE incident_id = $1 ORDER BY starts_at, fingerprint',
      [id],
    );
    return res.rows.map(toAlertState);
  }

  async timeline(id: number, afterId = 0): Promise<TimelineEntry[]> {
    const res = await this.db.query(
      'SELECT id, incident_id, at, kind, actor, data FROM incident_events WHERE incident_id = $1 AND id > $2 ORDER BY id',
      [id, afterId],
    );
    return res.rows.map((r) => ({
      id: Number(r.id),
      incidentId: Number(r.incident_id),
      at: r.at as Date,
      kind: r.kind as string,
      actor: (r.actor as string | null) ?? null,
      data: r.data as Record<string, unknown>,
    }));
  }

  async addEvent(
    id: number,
    event: { kind: string; [k: string]: unknown },
    actor: string | null,
  ): Promise<void> {
    await this.appendEvent(this.db, id, event, actor);
  }

  async setSlackMessage(
    id: number,
    msg: { channelId: string; ts: string; permalink?: string | null; renderedHash: string },
  ): Promise<void> {
    await this.db.query(
      `UPDATE incidents SET slack_channel_id = $2, slack_ts = $3, slack_permalink = COALESCE($4, slack_permalink),
         slack_rendered_hash = $5 WHERE id = $1`,
      [id, msg.channelId, msg.ts, msg.permalink ?? null, msg.renderedHash],
    );
  }

  async setRenderedHash(id: number, hash: string): Promise<void> {
    await this.db.query('UPDATE incidents SET slack_rendered_hash = $2 WHERE id = $1', [id, hash]);
  }

  async advanceThreadCursor(id: number, eventId: number): Promise<void> {
    await this.db.query('UPDATE incidents SET thread_cursor = GREATEST(thread_cursor, $2) WHERE id = $1', [
      id,
      eventId,
    ]);
  }

  async setPagerDuty(
    id: number,
    pd: {
      dedupKey: string;
      status: 'triggered' | 'resolved';
      incidentId?: string | null;
      htmlUrl?: string | null;
    },
  ): Promise<void> {
    await this.db.query(
      `UPDATE incidents SET pd_dedup_key = $2, pd_status = $3, pd_incident_id = COALESCE($4, pd_incident_id),
         pd_html_url = COALESCE($5, pd_html_url), updated_at = now() WHERE id = $1`,
      [id, pd.dedupKey, pd.status, pd.incidentId ?? null, pd.htmlUrl ?? null],
    );
  }

  /** Remembers which PagerDuty incident is ours (found by REST), if it was not known yet. */
  async linkPagerDuty(row: IncidentRow, pd: { id: string; html_url?: string | undefined }): Promise<void> {
    if (pd.id === row.pdIncidentId) return;
    await this.setPagerDuty(row.id, {
      dedupKey: row.pdDedupKey ?? row.key,
      status: row.pdStatus ?? 'triggered',
      incidentId: pd.id,
      htmlUrl: pd.html_url ?? null,
    });
  }

  /**
   * Records a playbook run: the verdict and proposed fixes on the incident, and the full results
   * in the timeline (the thread reply is rendered from that event).
   */
  async recordDiagnosis(
    id: number,
    diagnosis: {
      playbook: string;
      runbook: string;
      verdict: string;
      actions: ProposedAction[];
      results: unknown[];
      durationMs: number;
    },
  ): Promise<void> {
    await this.tx(async (c) => {
      await c.query(
        `UPDATE incidents SET diagnosis_verdict = $2, diagnosed_at = now(), proposed_actions = $3, updated_at = now()
         WHERE id = $1`,
        [id, diagnosis.verdict, JSON.stringify(diagnosis.actions)],
      );
      await this.appendEvent(c, id, { kind: 'diagnosed', ...diagnosis }, 'playbook');
    });
  }

  /**
   * Records a command that ran for the incident: a line on its message (kept to the last 10) and
   * an event in its timeline.
   */
  async recordCommand(
    id: number,
    command: { requestId: string; line: string; succeeded?: boolean },
  ): Promise<void> {
    const { succeeded = false, ...event } = command;
    await this.tx(async (c) => {
      // A fix that worked is the runbook's mitigation (its 1-hour mark), the first one counts.
      if (succeeded)
        await c.query('UPDATE incidents SET mitigated_at = COALESCE(mitigated_at, now()) WHERE id = $1', [
          id,
        ]);
      await c.query(
        `UPDATE incidents SET commands_done = (
           SELECT coalesce(jsonb_agg(x ORDER BY n), '[]') FROM (
             SELECT x, n FROM jsonb_array_elements(commands_done || to_jsonb($2::text)) WITH ORDINALITY AS t(x, n)
             ORDER BY n DESC LIMIT 10) recent),
         updated_at = now() WHERE id = $1`,
        [id, command.line],
      );
      await this.appendEvent(c, id, { kind: 'command', ...event, succeeded }, 'commands');
    });
  }

  /**
   * Marks the incident acknowledged (if still firing) and records who did it. The same ack arriving
   * again (Slack's click, then PagerDuty's webhook about it) changes nothing and tells nobody.
   */
  async acknowledge(id: number, by: string, source: string, at = new Date()): Promise<boolean> {
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE incidents SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3, updated_at = now()
         WHERE id = $1 AND status = 'firing' RETURNING id`,
        [id, by, at],
      );
      const changed = (res.rowCount ?? 0) > 0;
      if (changed) await this.appendEvent(c, id, { kind: 'acknowledged', by, source }, by);
      return changed;
    });
  }

  /**
   * Acknowledges in the bot and, holding the incident's row, in PagerDuty (`confirm`): the row stays
   * locked until PagerDuty answered, so PagerDuty's webhook about this very acknowledgement (which
   * can arrive before `confirm` returns) waits, then finds it done and tells nobody twice. If
   * `confirm` throws, nothing is recorded. False when it was not firing any more.
   */
  async acknowledgeWith(
    id: number,
    by: string,
    source: string,
    confirm: () => Promise<void>,
  ): Promise<boolean> {
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE incidents SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'firing' RETURNING id`,
        [id, by],
      );
      if ((res.rowCount ?? 0) === 0) return false;
      await confirm();
      await this.appendEvent(c, id, { kind: 'acknowledged', by, source }, by);
      return true;
    });
  }

  /**
   * An acknowledgement the bot was never told (found by reconciliation): recorded with its own time,
   * even when the incident has resolved since (it is history the post-mortem needs). False when an
   * acknowledgement was already recorded.
   */
  async recordMissedAcknowledgement(id: number, by: string, at: Date): Promise<boolean> {
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE incidents SET acknowledged_by = $2, acknowledged_at = $3,
           status = CASE WHEN status = 'firing' THEN 'acknowledged' ELSE status END, updated_at = now()
         WHERE id = $1 AND acknowledged_at IS NULL RETURNING id`,
        [id, by, at],
      );
      const changed = (res.rowCount ?? 0) > 0;
      if (changed) await this.appendEvent(c, id, { kind: 'acknowledged', by, source: 'pagerduty' }, by);
      return changed;
    });
  }

  /**
   * Resolves by hand (the alert may still fire: someone judged it over), with the person's note.
   * False when it was already resolved.
   */
  async resolveByHand(id: number, by: string, note: string, source: string): Promise<boolean> {
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE incidents SET status = 'resolved', resolved_at = now(), resolve_note = $2, updated_at = now()
         WHERE id = $1 AND status <> 'resolved' RETURNING id`,
        [id, note.slice(0, 3000)],
      );
      const changed = (res.rowCount ?? 0) > 0;
      if (changed) await this.appendEvent(c, id, { kind: 'resolved_by_hand', by, note, source }, by);
      return changed;
    });
  }

  /** Snoozes reminders until `until` (already bounded by the escalation policy). */
  async snooze(id: number, by: string, until: Date): Promise<void> {
    await this.tx(async (c) => {
      await c.query('UPDATE incidents SET snoozed_until = $2, updated_at = now() WHERE id = $1', [id, until]);
      await this.appendEvent(c, id, { kind: 'snoozed', by, until: until.toISOString() }, by);
    });
  }

  async linkPostmortem(id: number, by: string, url: string): Promise<void> {
    await this.tx(async (c) => {
      await c.query(
        `UPDATE incidents SET postmortem_url = $2, postmortem_linked_at = COALESCE(postmortem_linked_at, now()),
           updated_at = now() WHERE id = $1`,
        [id, url],
      );
      await this.appendEvent(c, id, { kind: 'postmortem_linked', by, url }, by);
    });
  }

  /**
   * Takes an escalation timer for acting, with the timeline event that tells the thread, in one
   * transaction: false when it was taken before (it acts once, whichever replica or redelivery).
   */
  async claimTimer(
    id: number,
    timer: { timerId: string; kind: string; paged: boolean; pagerDutyLevel: number | null },
    event: { kind: string; [k: string]: unknown },
  ): Promise<boolean> {
    return this.tx(async (c) => {
      const res = await c.query(
        `INSERT INTO escalation_timers_fired (timer_id, incident_id, kind, paged, pagerduty_level)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (timer_id) DO NOTHING RETURNING timer_id`,
        [timer.timerId, id, timer.kind, timer.paged, timer.pagerDutyLevel],
      );
      if ((res.rowCount ?? 0) === 0) return false;
      await this.appendEvent(c, id, event, 'escalation');
      await c.query('UPDATE incidents SET updated_at = now() WHERE id = $1', [id]);
      return true;
    });
  }

  async firedTimers(
    id: number,
  ): Promise<
    { timerId: string; kind: string; paged: boolean; pagerDutyLevel: number | null; firedAt: Date }[]
  > {
    const res = await this.db.query(
      `SELECT timer_id, kind, paged, pagerduty_level, fired_at FROM escalation_timers_fired
       WHERE incident_id = $1 ORDER BY fired_at`,
      [id],
    );
    return res.rows.map((r) => ({
      timerId: r.timer_id as string,
      kind: r.kind as string,
      paged: r.paged as boolean,
      pagerDutyLevel: r.pagerduty_level === null ? null : Number(r.pagerduty_level),
      firedAt: r.fired_at as Date,
    }));
  }

  /** Open incidents and those resolved in the last `days` (their post-mortem reminder may be pending). */
  async incidentsOnTheClock(days: number): Promise<IncidentRow[]> {
    const res = await this.db.query(
      `SELECT ${INCIDENT_COLUMNS} FROM incidents
       WHERE status <> 'resolved' OR (resolved_at > now() - make_interval(days => $1) AND postmortem_linked_at IS NULL)
       ORDER BY id LIMIT 2000`,
      [days],
    );
    return res.rows.map(toIncident);
  }

  /** Remembers a PagerDuty webhook delivery; false when it was already handled (a retry). */
  async recordPagerDutyWebhook(
    webhookId: string,
    eventId: string,
    eventType: string,
    pdIncidentId: string | null,
  ): Promise<boolean> {
    try {
      const res = await this.db.query(
        `INSERT INTO pagerduty_webhooks (webhook_id, event_id, event_type, pd_incident_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id`,
        [webhookId, eventId, eventType, pdIncidentId],
      );
      return (res.rowCount ?? 0) > 0;
    } catch (err) {
      return unavailable(err);
    }
  }

  /** Undoes `recordPagerDutyWebhook` when applying the event failed, so PagerDuty's retry is applied. */
  async forgetPagerDutyWebhook(webhookId: string): Promise<void> {
    await this.db.query('DELETE FROM pagerduty_webhooks WHERE webhook_id = $1', [webhookId]);
  }

  async lastHeartbeat(name: string): Promise<Date | null> {
    const res = await this.db.query('SELECT last_seen FROM heartbeats WHERE name = $1', [name]);
    return (res.rows[0]?.last_seen as Date | undefined) ?? null;
  }

  // ---- storm digests -----------------------------------------------------------------------

  /** Top-level incident messages posted to `channel` since `since` (own messages, not digests). */
  async countRecentTopLevel(channel: string, since: Date): Promise<number> {
    const res = await this.db.query(
      `SELECT count(*)::int AS n FROM incidents WHERE channel = $1 AND created_at >= $2`,
      [channel, since],
    );
    return Number(res.rows[0]?.n ?? 0);
  }

  /** The channel's digest still collecting (last addition within `window`), or a new one. */
  async digestFor(channel: string, windowStart: Date): Promise<{ id: number; created: boolean }> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [`digest:${channel}`]);
      const open = await c.query(
        'SELECT id FROM slack_digests WHERE channel = $1 AND last_added_at >= $2 ORDER BY id DESC LIMIT 1',
        [channel, windowStart],
      );
      if (open.rows[0]) {
        await c.query('UPDATE slack_digests SET last_added_at = now() WHERE id = $1', [open.rows[0].id]);
        return { id: Number(open.rows[0].id), created: false };
      }
      const created = await c.query('INSERT INTO slack_digests (channel) VALUES ($1) RETURNING id', [
        channel,
      ]);
      return { id: Number(created.rows[0]?.id), created: true };
    });
  }

  async attachToDigest(incidentId: number, digestId: number): Promise<void> {
    await this.db.query('UPDATE incidents SET digest_id = $2 WHERE id = $1', [incidentId, digestId]);
  }

  async digest(id: number): Promise<{
    id: number;
    channel: string;
    slackChannelId: string | null;
    slackTs: string | null;
    renderedHash: string | null;
    startedAt: Date;
    incidentIds: number[];
  } | null> {
    const res = await this.db.query('SELECT * FROM slack_digests WHERE id = $1', [id]);
    const d = res.rows[0];
    if (!d) return null;
    const members = await this.db.query('SELECT id FROM incidents WHERE digest_id = $1 ORDER BY id', [id]);
    return {
      id: Number(d.id),
      channel: d.channel as string,
      slackChannelId: (d.slack_channel_id as string | null) ?? null,
      slackTs: (d.slack_ts as string | null) ?? null,
      renderedHash: (d.slack_rendered_hash as string | null) ?? null,
      startedAt: d.started_at as Date,
      incidentIds: members.rows.map((r) => Number(r.id)),
    };
  }

  async setDigestMessage(
    id: number,
    msg: { channelId: string; ts: string; renderedHash: string },
  ): Promise<void> {
    await this.db.query(
      'UPDATE slack_digests SET slack_channel_id = $2, slack_ts = $3, slack_rendered_hash = $4 WHERE id = $1',
      [id, msg.channelId, msg.ts, msg.renderedHash],
    );
  }

  async setDigestHash(id: number, hash: string): Promise<void> {
    await this.db.query('UPDATE slack_digests SET slack_rendered_hash = $2 WHERE id = $1', [id, hash]);
  }

  async countAll(): Promise<{ incidents: number; alerts: number; receipts: number }> {
    const res = await this.db.query(
      `SELECT (SELECT count(*) FROM incidents)::int AS incidents, (SELECT count(*) FROM incident_alerts)::int AS alerts,
              (SELECT count(*) FROM alert_receipts)::int AS receipts`,
    );
    const r = res.rows[0] ?? {};
    return { incidents: Number(r.incidents), alerts: Number(r.alerts), receipts: Number(r.receipts) };
  }
}

function commonLabelsOf(alerts: readonly AlertmanagerAlert[]): Record<string, string> {
  const [first, ...rest] = alerts;
  if (!first) return {};
  return Object.fromEntries(
    Object.entries(first.labels).filter(([k, v]) => rest.every((a) => a.labels[k] === v)),
  );
}
