/**
 * The slash-command audit trail in the bot's PostgreSQL (`command_audit`, append-only: a trigger
 * refuses UPDATE, DELETE and TRUNCATE). One row per invocation, allowed or not.
 *
 * Text from people is stored as data but bounded and made storable: PostgreSQL `text` and `jsonb`
 * cannot hold NUL, so NUL becomes U+FFFD; the raw text is capped at 1000 characters.
 */
import type pg from 'pg';
import { type AuditKind, AuditTrail, type AuditTrailEntry } from './audit-trail.js';
import type { Db } from './db.js';
import { storableJson, storableText } from './storable.js';

export { storableJson, storableText };

export const AUDIT_RESULTS = ['ok', 'refused', 'invalid', 'error'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];

export const AUDIT_RAW_TEXT_MAX = 1000;
export const AUDIT_DETAIL_MAX = 1000;

export interface CommandAuditEntry {
  readonly ref: string;
  readonly at: Date;
  readonly userId: string;
  readonly userName: string | null;
  readonly teamId: string | null;
  readonly channelId: string;
  readonly channelName: string | null;
  /** "/qnwis". */
  readonly command: string;
  readonly verb: string | null;
  readonly args: Readonly<Record<string, unknown>>;
  readonly rawText: string;
  readonly role: string | null;
  readonly private: boolean;
  readonly result: AuditResult;
  readonly detail: string | null;
  readonly durationMs: number;
  /**
   * Its entry in the hash-chained audit trail. Default: 'refusal' when refused, else 'read-only'.
   * null: none, because the caller writes its own trail rows (a command request, break-glass).
   */
  readonly trailKind?: AuditKind | null;
}

export interface CommandAuditRow extends Omit<CommandAuditEntry, 'trailKind'> {
  readonly id: number;
}

/** The invocation as one line of the audit trail; the details ride along in `data`. */
function trailEntryOf(e: CommandAuditEntry): AuditTrailEntry {
  const line = `${e.command} ${e.rawText.replace(/\s+/g, ' ').trim()}`.trim();
  const incidentId = e.verb === 'incident' && typeof e.args.id === 'number' ? e.args.id : null;
  return {
    kind: e.trailKind ?? (e.result === 'refused' ? 'refusal' : 'read-only'),
    at: e.at,
    actorId: e.userId,
    actorName: e.userName,
    actorRole: e.role,
    requestId: null,
    incidentId,
    summary: e.result === 'ok' ? line : `${line} (${e.result})`,
    data: {
      ref: e.ref,
      verb: e.verb,
      args: e.args,
      result: e.result,
      detail: e.detail,
      channelId: e.channelId,
      channelName: e.channelName,
      private: e.private,
    },
  };
}

function toRow(r: Record<string, unknown>): CommandAuditRow {
  return {
    id: Number(r.id),
    ref: r.ref as string,
    at: r.at as Date,
    userId: r.slack_user_id as string,
    userName: (r.slack_user_name as string | null) ?? null,
    teamId: (r.slack_team_id as string | null) ?? null,
    channelId: r.slack_channel_id as string,
    channelName: (r.slack_channel_name as string | null) ?? null,
    command: r.command as string,
    verb: (r.verb as string | null) ?? null,
    args: (r.args as Record<string, unknown>) ?? {},
    rawText: r.raw_text as string,
    role: (r.role as string | null) ?? null,
    private: r.private as boolean,
    result: r.result as AuditResult,
    detail: (r.detail as string | null) ?? null,
    durationMs: Number(r.duration_ms),
  };
}

export class CommandAuditStore {
  readonly db: Db;
  readonly trail: AuditTrail;
  constructor(db: Db, trail: AuditTrail = new AuditTrail(db)) {
    this.db = db;
    this.trail = trail;
  }

  /**
   * Appends one invocation, and its entry in the hash-chained audit trail ('refusal' when it was
   * refused, else 'read-only') in the same transaction. Throws when the database refuses (the
   * caller logs the entry then).
   */
  async record(e: CommandAuditEntry): Promise<void> {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      await this.insert(client, e);
      if (e.trailKind !== null) await this.trail.append(trailEntryOf(e), client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async insert(client: pg.PoolClient, e: CommandAuditEntry): Promise<void> {
    await client.query(
      `INSERT INTO command_audit (ref, at, slack_user_id, slack_user_name, slack_team_id, slack_channel_id,
         slack_channel_name, command, verb, args, raw_text, role, private, result, detail, duration_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        e.ref,
        e.at,
        storableText(e.userId, 64),
        e.userName === null ? null : storableText(e.userName, 200),
        e.teamId === null ? null : storableText(e.teamId, 64),
        storableText(e.channelId, 64),
        e.channelName === null ? null : storableText(e.channelName, 200),
        storableText(e.command, 64),
        e.verb === null ? null : storableText(e.verb, 64),
        JSON.stringify(storableJson(e.args)),
        storableText(e.rawText, AUDIT_RAW_TEXT_MAX),
        e.role,
        e.private,
        e.result,
        e.detail === null ? null : storableText(e.detail, AUDIT_DETAIL_MAX),
        Math.max(0, Math.round(e.durationMs)),
      ],
    );
  }

  /** Newest first. */
  async recent(opts: { limit?: number; userId?: string } = {}): Promise<CommandAuditRow[]> {
    const limit = Math.min(Math.max(opts.limit ?? 50, 1), 1000);
    const res = await this.db.query(
      `SELECT * FROM command_audit WHERE ($1::text IS NULL OR slack_user_id = $1) ORDER BY id DESC LIMIT $2`,
      [opts.userId ?? null, limit],
    );
    return res.rows.map(toRow);
  }

  async byRef(ref: string): Promise<CommandAuditRow | undefined> {
    const res = await this.db.query('SELECT * FROM command_audit WHERE ref = $1', [ref]);
    return res.rows[0] ? toRow(res.rows[0]) : undefined;
  }
}
