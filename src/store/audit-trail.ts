/**
 * The tamper-evident audit trail (`audit_trail`): one row per request, approval, rejection, expiry,
 * start, step, result, cancel, interruption, break-glass window, read-only command and refusal,
 * each chained to the one before it by a hash. The table is append-only (a trigger refuses UPDATE,
 * DELETE and TRUNCATE); the chain shows what someone who got past the trigger changed.
 *
 * The chain, exactly (so an auditor can re-implement it without this code):
 *
 *   hash = lowercase hex SHA-256 of UTF-8( (prev_hash ?? "genesis") + "\n" + content )
 *   content = JSON with keys sorted at every level, no whitespace, of
 *     { id, at, kind, actor_id, actor_name, actor_role, request_id, incident_id, summary, data }
 *   where id and incident_id are JSON numbers (or null), `at` is the stored instant in UTC as
 *   "YYYY-MM-DDTHH:MM:SS.ffffffZ" (six fractional digits), and data is the stored jsonb.
 *
 * Appends are serialised across processes and replicas by a transaction-scoped advisory lock on
 * the table; the tip is read after taking it, so each row's prev_hash is the row before it. A
 * unique index on prev_hash turns any append that still read a stale tip (a caller's REPEATABLE
 * READ transaction) into an error instead of a fork.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { InvalidArgumentError } from '../errors.js';
import type { Db } from './db.js';
import { storableJson, storableText } from './storable.js';

export const AUDIT_KINDS = [
  'request',
  'approval',
  'rejection',
  'expiry',
  'start',
  'step',
  'result',
  'cancel',
  'interrupted',
  'break-glass',
  'read-only',
  'refusal',
  /** Acknowledge, resolve, escalate now, snooze, reassign, post-mortem link (issue 7). */
  'incident-action',
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export const AUDIT_SUMMARY_MAX = 500;
/** Serialized `data` beyond this is replaced by a note of its size and a preview. */
export const AUDIT_DATA_MAX = 16_000;

export interface AuditTrailEntry {
  kind: AuditKind;
  /** Stored to the millisecond. */
  at: Date;
  /** Slack user id; null when the bot itself acted. */
  actorId: string | null;
  actorName?: string | null;
  /** Their role at the time (viewer, L1…L4). */
  actorRole?: string | null;
  /** The command request ("R-7K2M9XD4"). */
  requestId?: string | null;
  incidentId?: number | null;
  /** One line a person reads; capped at 500 characters. */
  summary: string;
  data?: Readonly<Record<string, unknown>>;
}

export interface AuditTrailRow extends Required<AuditTrailEntry> {
  id: number;
  prevHash: string | null;
  hash: string;
}

export type ChainCheck =
  | { ok: true; rows: number; lastHash: string | null }
  | {
      ok: false;
      /** Rows found intact before the broken one. */
      rows: number;
      brokenAtId: number;
      reason: string;
    };

/** What the hash covers, as stored (after bounding and sanitising). */
export interface AuditHashContent {
  readonly id: number;
  /** "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
  readonly at: string;
  readonly kind: string;
  readonly actorId: string | null;
  readonly actorName: string | null;
  readonly actorRole: string | null;
  readonly requestId: string | null;
  readonly incidentId: number | null;
  readonly summary: string;
  readonly data: unknown;
}

/** JSON with object keys sorted (by UTF-16 code units) at every level and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function auditRowHash(prevHash: string | null, c: AuditHashContent): string {
  const content = canonicalJson({
    id: c.id,
    at: c.at,
    kind: c.kind,
    actor_id: c.actorId,
    actor_name: c.actorName,
    actor_role: c.actorRole,
    request_id: c.requestId,
    incident_id: c.incidentId,
    summary: c.summary,
    data: c.data,
  });
  return createHash('sha256')
    .update(`${prevHash ?? 'genesis'}\n${content}`, 'utf8')
    .digest('hex');
}

/** An instant as the chain spells it: UTC, six fractional digits (a JS Date has three). */
export function chainInstant(at: Date): string {
  const t = at.getTime();
  if (!Number.isFinite(t)) throw new InvalidArgumentError('audit entry: `at` is not a valid date');
  const year = at.getUTCFullYear();
  if (year < 1 || year > 9999) throw new InvalidArgumentError(`audit entry: year ${year} is out of range`);
  const iso = at.toISOString();
  return `${iso.slice(0, 23)}000Z`;
}

/**
 * `data` as it will come back from jsonb: plain JSON (Dates as strings, undefined dropped, BigInt
 * as text), every string storable, bounded in breadth, depth and total size.
 */
export function storableData(data: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  let plain: unknown;
  try {
    plain = JSON.parse(
      JSON.stringify(data ?? {}, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '{}',
    );
  } catch (err) {
    plain = { unserialisable: storableText((err as Error).message, 200) };
  }
  const safe = storableJson(plain);
  const obj =
    safe !== null && typeof safe === 'object' && !Array.isArray(safe)
      ? (safe as Record<string, unknown>)
      : { value: safe };
  const text = JSON.stringify(obj);
  if (text.length <= AUDIT_DATA_MAX) return obj;
  return { truncated: true, chars: text.length, preview: storableText(text, 1000) };
}

const opt = (s: string | null | undefined, max: number): string | null =>
  s === null || s === undefined ? null : storableText(s, max);

function incidentIdOf(v: number | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (!Number.isSafeInteger(v))
    throw new InvalidArgumentError(`audit entry: incident id ${v} is not an integer`);
  return v;
}

/** Two-key advisory lock: this constant, and the table's oid (so each schema's trail has its own). */
const APPEND_LOCK_CLASS = 0x51415431; // "QAT1"

// bigint ids come back as text (exact); the aliases differ from the columns so ORDER BY id sorts
// by the number, not by an output column of type text.
const SELECT_COLUMNS = `id::text AS id_text, at,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_text,
  kind, actor_id, actor_name, actor_role, request_id, incident_id::text AS incident_id_text,
  summary, data, prev_hash, hash`;

interface RawRow {
  id_text: string;
  at: Date;
  at_text: string;
  kind: string;
  actor_id: string | null;
  actor_name: string | null;
  actor_role: string | null;
  request_id: string | null;
  incident_id_text: string | null;
  summary: string;
  data: Record<string, unknown>;
  prev_hash: string | null;
  hash: string;
}

function toRow(r: RawRow): AuditTrailRow {
  return {
    id: Number(r.id_text),
    at: r.at,
    kind: r.kind as AuditKind,
    actorId: r.actor_id,
    actorName: r.actor_name,
    actorRole: r.actor_role,
    requestId: r.request_id,
    incidentId: r.incident_id_text === null ? null : Number(r.incident_id_text),
    summary: r.summary,
    data: r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

function hashContentOf(r: RawRow): AuditHashContent {
  return {
    id: Number(r.id_text),
    at: r.at_text,
    kind: r.kind,
    actorId: r.actor_id,
    actorName: r.actor_name,
    actorRole: r.actor_role,
    requestId: r.request_id,
    incidentId: r.incident_id_text === null ? null : Number(r.incident_id_text),
    summary: r.summary,
    data: r.data,
  };
}

const short = (hash: string | null) => (hash === null ? 'none' : `${hash.slice(0, 12)}…`);

export class AuditTrail {
  readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  /**
   * Appends one row chained to the previous. With `client` (a pg.PoolClient inside the caller's
   * READ COMMITTED transaction) it appends in that transaction, so a state change and its audit
   * row commit together; the lock is then held until the caller commits, so append last.
   */
  async append(entry: AuditTrailEntry, client?: pg.PoolClient): Promise<{ id: number; hash: string }> {
    if (!(AUDIT_KINDS as readonly string[]).includes(entry.kind)) {
      throw new InvalidArgumentError(`audit entry: unknown kind ${JSON.stringify(entry.kind)}`);
    }
    const at = chainInstant(entry.at);
    const fields = {
      actorId: opt(entry.actorId, 64),
      actorName: opt(entry.actorName, 200),
      actorRole: opt(entry.actorRole, 32),
      requestId: opt(entry.requestId, 64),
      incidentId: incidentIdOf(entry.incidentId),
      summary: storableText(entry.summary, AUDIT_SUMMARY_MAX),
      data: storableData(entry.data),
    };
    if (client) return this.appendIn(client, entry.kind, at, fields);
    const own = await this.db.connect();
    try {
      await own.query('BEGIN');
      const appended = await this.appendIn(own, entry.kind, at, fields);
      await own.query('COMMIT');
      return appended;
    } catch (err) {
      await own.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      own.release();
    }
  }

  private async appendIn(
    client: pg.PoolClient,
    kind: AuditKind,
    at: string,
    f: Omit<AuditHashContent, 'id' | 'at' | 'kind'> & { data: Record<string, unknown> },
  ): Promise<{ id: number; hash: string }> {
    // The lock first, in its own statement: a READ COMMITTED statement's snapshot is taken when it
    // starts, so the tip must be read by a later statement to see the previous holder's row.
    await client.query(`SELECT pg_advisory_xact_lock($1, 'audit_trail'::regclass::oid::int)`, [
      APPEND_LOCK_CLASS,
    ]);
    const { rows } = await client.query<{ id: string; prev: string | null }>(
      `SELECT nextval(pg_get_serial_sequence('audit_trail', 'id'))::text AS id,
              (SELECT hash FROM audit_trail ORDER BY id DESC LIMIT 1) AS prev`,
    );
    const id = Number(rows[0]?.id);
    const prev = rows[0]?.prev ?? null;
    const hash = auditRowHash(prev, { id, at, kind, ...f });
    await client.query(
      `INSERT INTO audit_trail (id, at, kind, actor_id, actor_name, actor_role, request_id, incident_id,
         summary, data, prev_hash, hash)
       VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        id,
        at,
        kind,
        f.actorId,
        f.actorName,
        f.actorRole,
        f.requestId,
        f.incidentId,
        f.summary,
        JSON.stringify(f.data),
        prev,
        hash,
      ],
    );
    return { id, hash };
  }

  /** Newest first; `limit` defaults to 50 (at most 1000). */
  async list(
    opts: { userId?: string; since?: Date; requestId?: string; limit?: number } = {},
  ): Promise<AuditTrailRow[]> {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 50), 1), 1000);
    const { rows } = await this.db.query<RawRow>(
      `SELECT ${SELECT_COLUMNS} FROM audit_trail
        WHERE ($1::text IS NULL OR actor_id = $1)
          AND ($2::timestamptz IS NULL OR at >= $2)
          AND ($3::text IS NULL OR request_id = $3)
        ORDER BY id DESC LIMIT $4`,
      [opts.userId ?? null, opts.since ?? null, opts.requestId ?? null, limit],
    );
    return rows.map(toRow);
  }

  /**
   * Walks the rows in id order (in one snapshot) and reports the first whose prev_hash is not the
   * previous row's hash (a row before it was deleted or rewritten) or whose content does not match
   * its hash (it was changed). From `fromId`, the row before it is taken as the trusted anchor.
   */
  async verify(opts: { fromId?: number; batchSize?: number } = {}): Promise<ChainCheck> {
    const batch = Math.min(Math.max(opts.batchSize ?? 1000, 1), 10_000);
    const client = await this.db.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      let prevId: number | null = null;
      let prevHash: string | null = null;
      let after = 0;
      if (opts.fromId !== undefined && opts.fromId > 1) {
        const anchor = await client.query<{ id_text: string; hash: string }>(
          'SELECT id::text AS id_text, hash FROM audit_trail WHERE id < $1 ORDER BY id DESC LIMIT 1',
          [opts.fromId],
        );
        const a = anchor.rows[0];
        if (a) {
          prevId = Number(a.id_text);
          prevHash = a.hash;
          after = prevId;
        }
      }
      let rows = 0;
      for (;;) {
        const res = await client.query<RawRow>(
          `SELECT ${SELECT_COLUMNS} FROM audit_trail WHERE id > $1 ORDER BY id LIMIT $2`,
          [after, batch],
        );
        for (const r of res.rows) {
          const id = Number(r.id_text);
          if (r.prev_hash !== prevHash) {
            const reason =
              prevId === null
                ? `prev_hash is ${short(r.prev_hash)} but no row comes before it (the rows before it were deleted)`
                : `prev_hash ${short(r.prev_hash)} is not the hash of row ${prevId} (${short(prevHash)}): ` +
                  (id - prevId > 1
                    ? `ids jump from ${prevId} to ${id}; a row between them was deleted, or row ${prevId}'s hash was rewritten`
                    : `row ${prevId}'s hash was rewritten, or this row's prev_hash was`);
            return { ok: false, rows, brokenAtId: id, reason };
          }
          if (auditRowHash(r.prev_hash, hashContentOf(r)) !== r.hash) {
            return {
              ok: false,
              rows,
              brokenAtId: id,
              reason: 'its content does not match its hash (the row was changed after it was written)',
            };
          }
          rows++;
          prevId = id;
          prevHash = r.hash;
          after = id;
        }
        if (res.rows.length < batch) break;
      }
      return { ok: true, rows, lastHash: prevHash };
    } finally {
      // Read-only: ending it by rollback on every path keeps a pooled connection from going back
      // to the pool still inside this transaction.
      const ended = await client.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      client.release(!ended);
    }
  }
}
