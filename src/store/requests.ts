/**
 * Command requests, their approvals and break-glass windows in the bot's PostgreSQL (issue 6).
 *
 * Every state change is a conditional UPDATE inside a transaction with its audit row, so a double
 * click, a replayed interaction or a second bot replica changes a request once and the audit trail
 * never disagrees with the table. The decisions themselves (may this person ask, approve; is the
 * quorum met) are the pure policy's (src/incidents/approvals.ts): the store hands it the rows it
 * needs under a lock and stores what it decided.
 */
import type pg from 'pg';
import type { RoleLevel } from '../bot/roles.js';
import type { OpenRequest, Target } from '../incidents/approvals.js';
import { storableText } from './audit.js';
import type { Db } from './db.js';

export const REQUEST_STATES = [
  'pending',
  'approved',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
  'expired',
  'interrupted',
  'refused',
] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

/** States after which nothing more happens to a request. */
export const FINAL_STATES: readonly RequestState[] = [
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
  'expired',
  'interrupted',
  'refused',
];
export const OPEN_STATES: readonly RequestState[] = ['pending', 'approved', 'running'];

export interface Actor {
  readonly id: string;
  readonly name: string | null;
  readonly level: RoleLevel | null;
}

/** One step as recorded when it ended. */
export interface RecordedStep {
  readonly stepId: string;
  readonly status: 'done' | 'failed' | 'skipped';
  readonly detail: string;
  readonly at: string;
}

export interface CommandRequestRow {
  readonly id: string;
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly summary: string;
  readonly ruleKey: string;
  readonly risk: string;
  readonly destructive: boolean;
  readonly targets: Target[];
  readonly plan: Record<string, unknown>;
  readonly planHash: string;
  readonly requester: { readonly id: string; readonly name: string | null; readonly level: RoleLevel };
  readonly incidentId: number | null;
  readonly channelId: string;
  readonly threadTs: string | null;
  readonly messageTs: string | null;
  readonly progressTs: string | null;
  readonly requestedAt: Date;
  readonly expiresAt: Date | null;
  readonly state: RequestState;
  readonly stateDetail: string | null;
  readonly breakGlass: boolean;
  readonly approvedAt: Date | null;
  readonly claimedBy: string | null;
  readonly startedAt: Date | null;
  readonly steps: RecordedStep[];
  readonly cancelRequestedBy: string | null;
  readonly cancelRequestedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly verification: Record<string, unknown> | null;
}

export interface ApprovalRow {
  readonly requestId: string;
  readonly approverId: string;
  readonly approverName: string | null;
  readonly approverLevel: RoleLevel;
  readonly planHash: string;
  readonly at: Date;
}

export interface BreakGlassRow {
  readonly id: number;
  readonly grantedBy: string;
  readonly grantedName: string | null;
  readonly grantedLevel: RoleLevel;
  readonly reason: string;
  readonly channelId: string;
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly closedAt: Date | null;
}

/** What the audit trail (src/store/audit-trail.ts) takes; kept structural so this store owns no chain logic. */
export interface AuditEntry {
  readonly kind:
    | 'request'
    | 'approval'
    | 'rejection'
    | 'expiry'
    | 'start'
    | 'step'
    | 'result'
    | 'cancel'
    | 'interrupted'
    | 'break-glass'
    | 'refusal';
  readonly at: Date;
  readonly actorId: string | null;
  readonly actorName?: string | null;
  readonly actorRole?: string | null;
  readonly requestId?: string | null;
  readonly incidentId?: number | null;
  readonly summary: string;
  readonly data?: Readonly<Record<string, unknown>>;
}
export interface AuditAppender {
  append(entry: AuditEntry, client?: pg.PoolClient): Promise<unknown>;
}

export interface NewRequest {
  readonly id: string;
  readonly command: string;
  readonly args: unknown;
  readonly summary: string;
  readonly ruleKey: string;
  readonly risk: string;
  readonly destructive: boolean;
  readonly targets: readonly Target[];
  readonly plan: unknown;
  readonly planHash: string;
  readonly requester: Actor & { readonly level: RoleLevel };
  readonly incidentId: number | null;
  readonly channelId: string;
  readonly threadTs: string | null;
  readonly requestedAt: Date;
  readonly expiresAt: Date | null;
  /** 'approved' when the rule needs no approval. */
  readonly state: 'pending' | 'approved';
  readonly breakGlass: boolean;
}

/** A lock key of our own (pg_advisory_xact_lock): requests are created one at a time, so the duplicate-target check is exact. */
const CREATE_LOCK = 0x716e7773_00000001n;

function toRequest(r: Record<string, unknown>): CommandRequestRow {
  return {
    id: r.id as string,
    command: r.command as string,
    args: r.args as Record<string, unknown>,
    summary: r.summary as string,
    ruleKey: r.rule_key as string,
    risk: r.risk as string,
    destructive: r.destructive as boolean,
    targets: r.targets as Target[],
    plan: r.plan as Record<string, unknown>,
    planHash: r.plan_hash as string,
    requester: {
      id: r.requester_id as string,
      name: (r.requester_name as string | null) ?? null,
      level: r.requester_level as RoleLevel,
    },
    incidentId: r.incident_id === null ? null : Number(r.incident_id),
    channelId: r.channel_id as string,
    threadTs: (r.thread_ts as string | null) ?? null,
    messageTs: (r.message_ts as string | null) ?? null,
    progressTs: (r.progress_ts as string | null) ?? null,
    requestedAt: r.requested_at as Date,
    expiresAt: (r.expires_at as Date | null) ?? null,
    state: r.state as RequestState,
    stateDetail: (r.state_detail as string | null) ?? null,
    breakGlass: r.break_glass as boolean,
    approvedAt: (r.approved_at as Date | null) ?? null,
    claimedBy: (r.claimed_by as string | null) ?? null,
    startedAt: (r.started_at as Date | null) ?? null,
    steps: (r.steps as RecordedStep[]) ?? [],
    cancelRequestedBy: (r.cancel_requested_by as string | null) ?? null,
    cancelRequestedAt: (r.cancel_requested_at as Date | null) ?? null,
    finishedAt: (r.finished_at as Date | null) ?? null,
    verification: (r.verification as Record<string, unknown> | null) ?? null,
  };
}

function toApproval(r: Record<string, unknown>): ApprovalRow {
  return {
    requestId: r.request_id as string,
    approverId: r.approver_id as string,
    approverName: (r.approver_name as string | null) ?? null,
    approverLevel: r.approver_level as RoleLevel,
    planHash: r.plan_hash as string,
    at: r.at as Date,
  };
}

function toBreakGlass(r: Record<string, unknown>): BreakGlassRow {
  return {
    id: Number(r.id),
    grantedBy: r.granted_by as string,
    grantedName: (r.granted_name as string | null) ?? null,
    grantedLevel: r.granted_level as RoleLevel,
    reason: r.reason as string,
    channelId: r.channel_id as string,
    startsAt: r.starts_at as Date,
    endsAt: r.ends_at as Date,
    closedAt: (r.closed_at as Date | null) ?? null,
  };
}

/** An open request as the policy's duplicate check sees it. */
export function asOpenRequest(r: CommandRequestRow): OpenRequest {
  return {
    id: r.id,
    command: r.command,
    summary: r.summary,
    requester: { id: r.requester.id, level: r.requester.level, name: `<@${r.requester.id}>` },
    targets: r.targets,
    expiresAt: r.state === 'pending' && r.expiresAt ? r.expiresAt.getTime() : null,
  };
}

const detail = (text: string) => storableText(text, 1000);

export class RequestStore {
  readonly db: Db;
  private readonly audit: AuditAppender | null;

  constructor(db: Db, audit: AuditAppender | null) {
    this.db = db;
    this.audit = audit;
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.db.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  private async log(c: pg.PoolClient, entry: AuditEntry): Promise<void> {
    if (this.audit) await this.audit.append(entry, c);
  }

  async get(id: string): Promise<CommandRequestRow | undefined> {
    const res = await this.db.query('SELECT * FROM command_requests WHERE id = $1', [id]);
    return res.rows[0] ? toRequest(res.rows[0]) : undefined;
  }

  async approvals(id: string): Promise<ApprovalRow[]> {
    const res = await this.db.query(
      'SELECT * FROM command_approvals WHERE request_id = $1 ORDER BY at, approver_id',
      [id],
    );
    return res.rows.map(toApproval);
  }

  /** Pending, approved and running requests, oldest first. */
  async open(): Promise<CommandRequestRow[]> {
    const res = await this.db.query(
      `SELECT * FROM command_requests WHERE state IN ('pending', 'approved', 'running') ORDER BY requested_at, id`,
    );
    return res.rows.map(toRequest);
  }

  async forIncident(incidentId: number): Promise<CommandRequestRow[]> {
    const res = await this.db.query(
      'SELECT * FROM command_requests WHERE incident_id = $1 ORDER BY requested_at, id',
      [incidentId],
    );
    return res.rows.map(toRequest);
  }

  /**
   * Creates the request `decide` builds from every open request (under a lock, so the
   * duplicate-target check is exact), or returns its refusal. The audit row goes in the same
   * transaction.
   */
  async create<R>(
    decide: (open: readonly OpenRequest[]) => { readonly refusal: R } | { readonly request: NewRequest },
  ): Promise<{ created: true; row: CommandRequestRow } | { created: false; refusal: R }> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK.toString()]);
      const open = await c.query(
        `SELECT * FROM command_requests WHERE state IN ('pending', 'approved', 'running')`,
      );
      const decided = decide(open.rows.map(toRequest).map(asOpenRequest));
      if ('refusal' in decided) return { created: false as const, refusal: decided.refusal };
      const req = decided.request;
      const res = await c.query(
        `INSERT INTO command_requests (id, command, args, summary, rule_key, risk, destructive, targets, plan,
           plan_hash, requester_id, requester_name, requester_level, incident_id, channel_id, thread_ts,
           requested_at, expires_at, state, break_glass, approved_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
           CASE WHEN $19 = 'approved' THEN $17::timestamptz END)
         RETURNING *`,
        [
          req.id,
          req.command,
          JSON.stringify(req.args),
          detail(req.summary),
          req.ruleKey,
          req.risk,
          req.destructive,
          JSON.stringify(req.targets),
          JSON.stringify(req.plan),
          req.planHash,
          req.requester.id,
          req.requester.name,
          req.requester.level,
          req.incidentId,
          req.channelId,
          req.threadTs,
          req.requestedAt,
          req.expiresAt,
          req.state,
          req.breakGlass,
        ],
      );
      const row = toRequest(res.rows[0]);
      await this.log(c, {
        kind: 'request',
        at: req.requestedAt,
        actorId: req.requester.id,
        actorName: req.requester.name,
        actorRole: req.requester.level,
        requestId: req.id,
        incidentId: req.incidentId,
        summary: `requested ${req.summary}`,
        data: {
          command: req.command,
          args: req.args,
          planHash: req.planHash,
          rule: req.ruleKey,
          risk: req.risk,
          targets: req.targets,
          breakGlass: req.breakGlass,
        },
      });
      return { created: true as const, row };
    });
  }

  /**
   * Records an approval if `decide` (given the request, locked, and its approvals) allows it, and
   * moves the request to `approved` when `decide` says the quorum is met. Returns what `decide`
   * returned plus the row after the change and whether this call moved it to `approved` (the one
   * caller that should enqueue the run).
   */
  async approve<D extends { approval: { at: number; planHash: string } | null; satisfied: boolean }>(
    id: string,
    approver: Actor & { readonly level: RoleLevel },
    decide: (row: CommandRequestRow, approvals: readonly ApprovalRow[]) => D,
  ): Promise<{ decision: D; row: CommandRequestRow; approvedNow: boolean } | undefined> {
    return this.tx(async (c) => {
      const res = await c.query('SELECT * FROM command_requests WHERE id = $1 FOR UPDATE', [id]);
      if (!res.rows[0]) return undefined;
      let row = toRequest(res.rows[0]);
      const approvals = (
        await c.query('SELECT * FROM command_approvals WHERE request_id = $1 ORDER BY at', [id])
      ).rows.map(toApproval);
      const decision = decide(row, approvals);
      let approvedNow = false;
      if (decision.approval && row.state === 'pending') {
        const at = new Date(decision.approval.at);
        const ins = await c.query(
          `INSERT INTO command_approvals (request_id, approver_id, approver_name, approver_level, plan_hash, at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
          [id, approver.id, approver.name, approver.level, decision.approval.planHash, at],
        );
        if (ins.rowCount === 1) {
          await this.log(c, {
            kind: 'approval',
            at,
            actorId: approver.id,
            actorName: approver.name,
            actorRole: approver.level,
            requestId: id,
            incidentId: row.incidentId,
            summary: `approved ${row.summary}`,
            data: { planHash: decision.approval.planHash, satisfied: decision.satisfied },
          });
        }
        if (decision.satisfied) {
          const upd = await c.query(
            `UPDATE command_requests SET state = 'approved', approved_at = $2
             WHERE id = $1 AND state = 'pending' RETURNING *`,
            [id, at],
          );
          if (upd.rows[0]) {
            row = toRequest(upd.rows[0]);
            approvedNow = true;
          }
        }
      }
      return { decision, row, approvedNow };
    });
  }

  /** pending → rejected. Undefined when it was not pending (already decided). */
  async reject(id: string, by: Actor, reason: string, at: Date): Promise<CommandRequestRow | undefined> {
    return this.transition(id, ['pending'], 'rejected', reason, at, {
      kind: 'rejection',
      actor: by,
      summary: reason,
    });
  }

  /** Pending requests whose approval window has passed → expired (each audited). */
  async expireDue(now: Date): Promise<CommandRequestRow[]> {
    const due = await this.db.query(
      `SELECT id FROM command_requests WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at`,
      [now],
    );
    const out: CommandRequestRow[] = [];
    for (const { id } of due.rows as { id: string }[]) {
      const row = await this.transition(id, ['pending'], 'expired', 'nobody approved it in time', now, {
        kind: 'expiry',
        actor: null,
        summary: 'expired without the approvals it needed',
      });
      if (row) out.push(row);
    }
    return out;
  }

  /** Approved requests that have not started (re-enqueued by the sweep if their job was lost). */
  async approvedNotStarted(olderThan: Date): Promise<CommandRequestRow[]> {
    const res = await this.db.query(
      `SELECT * FROM command_requests WHERE state = 'approved' AND approved_at <= $1 ORDER BY approved_at`,
      [olderThan],
    );
    return res.rows.map(toRequest);
  }

  /**
   * approved → running, once: the worker that gets the row runs it. `from` may include `running`
   * for a command that is safe to start over after a lost worker (not destructive).
   */
  async claim(
    id: string,
    worker: string,
    at: Date,
    from: readonly RequestState[] = ['approved'],
  ): Promise<CommandRequestRow | undefined> {
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE command_requests SET state = 'running', claimed_by = $2, started_at = $3, steps = '[]'
         WHERE id = $1 AND state = ANY($4::text[]) RETURNING *`,
        [id, worker, at, [...from]],
      );
      if (!res.rows[0]) return undefined;
      const row = toRequest(res.rows[0]);
      await this.log(c, {
        kind: 'start',
        at,
        actorId: null,
        requestId: id,
        incidentId: row.incidentId,
        summary: `started ${row.summary}`,
        data: { worker, planHash: row.planHash },
      });
      return row;
    });
  }

  /** Appends an ended step to a running request (and the audit trail). */
  async recordStep(id: string, step: RecordedStep): Promise<void> {
    await this.tx(async (c) => {
      const res = await c.query(
        `UPDATE command_requests SET steps = steps || $2::jsonb WHERE id = $1 AND state = 'running'
         RETURNING incident_id, summary`,
        [id, JSON.stringify([{ ...step, detail: detail(step.detail) }])],
      );
      const r = res.rows[0] as { incident_id: string | null; summary: string } | undefined;
      if (!r) return;
      await this.log(c, {
        kind: 'step',
        at: new Date(step.at),
        actorId: null,
        requestId: id,
        incidentId: r.incident_id === null ? null : Number(r.incident_id),
        summary: `${step.stepId}: ${step.status}`,
        data: { stepId: step.stepId, status: step.status, detail: step.detail },
      });
    });
  }

  /**
   * Cancel by a person: a pending or approved (not started) request ends `cancelled` at once; a
   * running one is flagged and its worker stops between steps. Returns the row after the change
   * and what happened, or undefined when there was nothing to cancel.
   */
  async cancel(
    id: string,
    by: Actor,
    at: Date,
  ): Promise<{ row: CommandRequestRow; effect: 'cancelled' | 'stopping' } | undefined> {
    const stopped = await this.transition(
      id,
      ['pending', 'approved'],
      'cancelled',
      `cancelled by <@${by.id}>`,
      at,
      {
        kind: 'cancel',
        actor: by,
        summary: 'cancelled before it started',
      },
    );
    if (stopped) return { row: stopped, effect: 'cancelled' };
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE command_requests SET cancel_requested_by = $2, cancel_requested_at = $3
         WHERE id = $1 AND state = 'running' AND cancel_requested_at IS NULL RETURNING *`,
        [id, by.id, at],
      );
      if (!res.rows[0]) return undefined;
      const row = toRequest(res.rows[0]);
      await this.log(c, {
        kind: 'cancel',
        at,
        actorId: by.id,
        actorName: by.name,
        actorRole: by.level,
        requestId: id,
        incidentId: row.incidentId,
        summary: 'asked to stop between steps',
      });
      return { row, effect: 'stopping' as const };
    });
  }

  async cancelRequested(id: string): Promise<boolean> {
    const res = await this.db.query('SELECT cancel_requested_at FROM command_requests WHERE id = $1', [id]);
    return Boolean(res.rows[0]?.cancel_requested_at);
  }

  /**
   * The bot gives up on a request nobody could see (its approval message could not be posted):
   * pending/approved → cancelled, so it neither runs unseen nor blocks its targets.
   */
  async abandon(id: string, text: string, at: Date): Promise<CommandRequestRow | undefined> {
    return this.transition(id, ['pending', 'approved'], 'cancelled', text, at, {
      kind: 'cancel',
      actor: null,
      summary: text,
    });
  }

  /** running → succeeded / failed / cancelled, with verify's before/after. */
  async finish(
    id: string,
    state: 'succeeded' | 'failed' | 'cancelled',
    text: string,
    at: Date,
    verification: Record<string, unknown> | null,
  ): Promise<CommandRequestRow | undefined> {
    return this.transition(id, ['running'], state, text, at, {
      kind: 'result',
      actor: null,
      summary: `${state}: ${text}`,
      data: { state, verification },
      set: { verification },
    });
  }

  /** running → interrupted (a worker died mid-way: an operator decides). */
  async interrupt(id: string, text: string, at: Date): Promise<CommandRequestRow | undefined> {
    return this.transition(id, ['running'], 'interrupted', text, at, {
      kind: 'interrupted',
      actor: null,
      summary: text,
    });
  }

  /** approved → refused (the run-time policy re-check or the precheck said no). */
  async refuse(id: string, text: string, at: Date): Promise<CommandRequestRow | undefined> {
    return this.transition(id, ['approved'], 'refused', text, at, {
      kind: 'refusal',
      actor: null,
      summary: text,
    });
  }

  async setMessage(id: string, messageTs: string, threadTs: string): Promise<void> {
    await this.db.query(
      'UPDATE command_requests SET message_ts = $2, thread_ts = COALESCE(thread_ts, $3) WHERE id = $1',
      [id, messageTs, threadTs],
    );
  }

  async setProgressMessage(id: string, ts: string): Promise<void> {
    await this.db.query('UPDATE command_requests SET progress_ts = $2 WHERE id = $1', [id, ts]);
  }

  private async transition(
    id: string,
    from: readonly RequestState[],
    to: RequestState,
    text: string,
    at: Date,
    audit: {
      kind: AuditEntry['kind'];
      actor: Actor | null;
      summary: string;
      data?: Record<string, unknown>;
      set?: { verification: Record<string, unknown> | null };
    },
  ): Promise<CommandRequestRow | undefined> {
    const final = FINAL_STATES.includes(to);
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE command_requests SET state = $2, state_detail = $3,
           finished_at = CASE WHEN $4 THEN $5::timestamptz ELSE finished_at END,
           verification = COALESCE($6::jsonb, verification)
         WHERE id = $1 AND state = ANY($7::text[]) RETURNING *`,
        [
          id,
          to,
          detail(text),
          final,
          at,
          audit.set?.verification ? JSON.stringify(audit.set.verification) : null,
          [...from],
        ],
      );
      if (!res.rows[0]) return undefined;
      const row = toRequest(res.rows[0]);
      await this.log(c, {
        kind: audit.kind,
        at,
        actorId: audit.actor?.id ?? null,
        actorName: audit.actor?.name ?? null,
        actorRole: audit.actor?.level ?? null,
        requestId: id,
        incidentId: row.incidentId,
        summary: `${row.summary}: ${audit.summary}`,
        data: { from, to, detail: text, ...(audit.data ?? {}) },
      });
      return row;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Break-glass

  /** The window open at `now` (the latest, if several were ever recorded). */
  async activeBreakGlass(now: Date): Promise<BreakGlassRow | undefined> {
    const res = await this.db.query(
      `SELECT * FROM break_glass_windows WHERE starts_at <= $1 AND ends_at > $1 AND closed_at IS NULL
       ORDER BY starts_at DESC LIMIT 1`,
      [now],
    );
    return res.rows[0] ? toBreakGlass(res.rows[0]) : undefined;
  }

  /**
   * Opens a window if `decide` (given the active one, under a lock) allows it; audited in the
   * same transaction.
   */
  async openBreakGlass<R>(
    input: {
      grantedBy: Actor & { level: RoleLevel };
      reason: string;
      channelId: string;
      startsAt: Date;
      endsAt: Date;
    },
    decide: (active: BreakGlassRow | undefined) => R | null,
  ): Promise<{ opened: true; row: BreakGlassRow } | { opened: false; refusal: R }> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [(CREATE_LOCK + 1n).toString()]);
      const cur = await c.query(
        `SELECT * FROM break_glass_windows WHERE starts_at <= $1 AND ends_at > $1 AND closed_at IS NULL
         ORDER BY starts_at DESC LIMIT 1`,
        [input.startsAt],
      );
      const refusal = decide(cur.rows[0] ? toBreakGlass(cur.rows[0]) : undefined);
      if (refusal !== null) return { opened: false as const, refusal };
      const res = await c.query(
        `INSERT INTO break_glass_windows (granted_by, granted_name, granted_level, reason, channel_id, starts_at, ends_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [
          input.grantedBy.id,
          input.grantedBy.name,
          input.grantedBy.level,
          input.reason,
          input.channelId,
          input.startsAt,
          input.endsAt,
        ],
      );
      const row = toBreakGlass(res.rows[0]);
      await this.log(c, {
        kind: 'break-glass',
        at: input.startsAt,
        actorId: input.grantedBy.id,
        actorName: input.grantedBy.name,
        actorRole: input.grantedBy.level,
        summary: `declared break-glass until ${input.endsAt.toISOString()}: ${input.reason}`,
        data: { windowId: row.id, reason: input.reason, endsAt: input.endsAt.toISOString() },
      });
      return { opened: true as const, row };
    });
  }

  /** Windows that have ended and were not yet announced as ended; marks them closed (audited). */
  async closeEndedBreakGlass(now: Date): Promise<BreakGlassRow[]> {
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE break_glass_windows SET closed_at = $1 WHERE closed_at IS NULL AND ends_at <= $1 RETURNING *`,
        [now],
      );
      const rows = res.rows.map(toBreakGlass);
      for (const w of rows) {
        await this.log(c, {
          kind: 'break-glass',
          at: now,
          actorId: null,
          summary: `break-glass by <@${w.grantedBy}> ended (${w.reason})`,
          data: { windowId: w.id, ended: true },
        });
      }
      return rows;
    });
  }
}
