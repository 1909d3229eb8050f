/**
 * The hash-chained audit trail against a real PostgreSQL schema: chaining, concurrent appends from
 * two pools, appends inside a caller's transaction, the append-only trigger, tampering found at
 * the exact row (a changed row, a deleted row), the slash-command audit feeding it, and the
 * `npm run audit` CLI as an operator runs it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CommandAuditEntry, CommandAuditStore } from '../../src/store/audit.js';
import {
  AUDIT_SUMMARY_MAX,
  AuditTrail,
  type AuditTrailEntry,
  auditRowHash,
  chainInstant,
} from '../../src/store/audit-trail.js';
import { createPool, type Db } from '../../src/store/db.js';
import { createTestStore, type TestStore } from '../support/store.js';

let store: TestStore;
let trail: AuditTrail;
let other: Db;

beforeAll(async () => {
  store = await createTestStore();
  trail = new AuditTrail(store.db);
  other = createPool({ url: store.url, schema: store.schema, max: 5 });
});
afterAll(async () => {
  await other?.end();
  await store?.drop();
});

const entry = (over: Partial<AuditTrailEntry> = {}): AuditTrailEntry => ({
  kind: 'request',
  at: new Date('2026-11-27T22:00:00.123Z'),
  actorId: 'U0ONCALL01',
  actorName: 'oncall',
  actorRole: 'L1',
  requestId: 'R-7K2M9XD4',
  incidentId: 42,
  summary: 'restart app-02',
  data: { command: 'restart', args: { host: 'app-02' } },
  ...over,
});

/** A superuser session in the test schema, as someone going around the bot would use. */
async function superuser<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: store.url, options: `-c search_path=${store.schema}` });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Runs SQL with triggers off (session_replication_role = replica): what tampering looks like. */
function tamper(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  return superuser(async (c) => {
    await c.query('SET session_replication_role = replica');
    return c.query(sql, params);
  });
}

/** `npm run audit -- …` in a child process against the test schema. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      ['run', '--silent', 'audit', '--', ...args, '--schema', store.schema],
      { env: { ...process.env, DATABASE_URL: store.url }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function rowCount(): Promise<number> {
  const { rows } = await store.db.query('SELECT count(*)::int AS n FROM audit_trail');
  return rows[0].n;
}

describe('appending', () => {
  it('chains each row to the one before from "genesis", in the documented bytes', async () => {
    const a = await trail.append(entry());
    const b = await trail.append(
      entry({
        kind: 'approval',
        actorId: 'U0SRE00001',
        actorName: 'sre',
        actorRole: 'L2',
        summary: 'approved',
      }),
    );
    const c = await trail.append(
      entry({ kind: 'step', actorId: null, actorName: null, actorRole: null, summary: 'app-02 restarted' }),
    );
    expect(b.id).toBeGreaterThan(a.id);
    expect(c.id).toBeGreaterThan(b.id);
    const rows = await trail.list({});
    expect(rows.map((r) => r.id)).toEqual([c.id, b.id, a.id]); // newest first
    expect(rows.map((r) => r.prevHash)).toEqual([b.hash, a.hash, null]);
    expect(rows.map((r) => r.hash)).toEqual([c.hash, b.hash, a.hash]);
    expect(rows[0]).toMatchObject({
      kind: 'step',
      actorId: null,
      summary: 'app-02 restarted',
      incidentId: 42,
    });

    // An auditor's independent re-computation of the first row from the stored text.
    const { rows: raw } = await store.db.query(
      `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM audit_trail WHERE id = $1`,
      [a.id],
    );
    expect(raw[0].at).toBe('2026-11-27T22:00:00.123000Z');
    const content =
      `{"actor_id":"U0ONCALL01","actor_name":"oncall","actor_role":"L1","at":"2026-11-27T22:00:00.123000Z",` +
      `"data":{"args":{"host":"app-02"},"command":"restart"},"id":${a.id},"incident_id":42,"kind":"request",` +
      `"request_id":"R-7K2M9XD4","summary":"restart app-02"}`;
    expect(a.hash).toBe(createHash('sha256').update(`genesis\n${content}`).digest('hex'));

    expect(await trail.verify()).toEqual({ ok: true, rows: 3, lastHash: c.hash });
  });

  it('stores hostile and oversized input bounded, and the chain still verifies', async () => {
    const when = new Date('2026-11-27T22:01:00Z');
    const { id } = await trail.append(
      entry({
        at: when,
        actorName: 'o\u0000ncall\ud800',
        summary: `restart ${'x'.repeat(5000)}`,
        data: {
          when,
          big: 10n,
          nul: 'a\u0000b',
          skip: undefined,
          deep: { a: { b: { c: { d: { e: 1 } } } } },
        },
      }),
    );
    const row = (await trail.list({ limit: 1 }))[0];
    expect(row?.id).toBe(id);
    expect(row?.actorName).toBe('o\ufffdncall\ufffd');
    expect(row?.summary.length).toBe(AUDIT_SUMMARY_MAX);
    expect(row?.data).toEqual({
      when: '2026-11-27T22:01:00.000Z',
      big: '10',
      nul: 'a\ufffdb',
      deep: { a: { b: { c: { d: null } } } },
    });
    const huge = await trail.append(
      entry({ data: { blob: Array.from({ length: 50 }, () => 'y'.repeat(1000)) } }),
    );
    const hugeRow = (await trail.list({ limit: 1 }))[0];
    expect(hugeRow?.id).toBe(huge.id);
    expect(hugeRow?.data).toMatchObject({ truncated: true });
    expect((await trail.verify()).ok).toBe(true);
  });

  it('refuses an unknown kind and an invalid date before touching the table', async () => {
    const before = await rowCount();
    await expect(trail.append(entry({ kind: 'edit' as AuditTrailEntry['kind'] }))).rejects.toThrow(
      /unknown kind/,
    );
    await expect(trail.append(entry({ at: new Date(Number.NaN) }))).rejects.toThrow(/not a valid date/);
    expect(await rowCount()).toBe(before);
  });

  it('20 concurrent appends from two pools form one unbroken chain', async () => {
    const before = await rowCount();
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new AuditTrail(i % 2 === 0 ? store.db : other).append(
          entry({ kind: 'step', summary: `concurrent ${i}`, at: new Date() }),
        ),
      ),
    );
    const ms = performance.now() - started;
    expect(new Set(results.map((r) => r.id)).size).toBe(20);
    expect(await rowCount()).toBe(before + 20);
    const check = await trail.verify();
    expect(check).toMatchObject({ ok: true, rows: before + 20 });
    // In id order, each row's prev_hash is the previous row's hash: no fork, no gap.
    const rows = (await trail.list({ limit: 1000 })).reverse();
    for (let i = 1; i < rows.length; i++) expect(rows[i]?.prevHash).toBe(rows[i - 1]?.hash);
    const summaries = rows.map((r) => r.summary).filter((s) => s.startsWith('concurrent '));
    expect(summaries.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `concurrent ${i}`).sort());
    console.log(`20 concurrent appends from two pools: ${ms.toFixed(0)} ms`);
  });

  it('appends inside the caller’s transaction: gone with a rollback, kept with a commit', async () => {
    const before = await rowCount();
    const client = await store.db.connect();
    try {
      await client.query('BEGIN');
      await trail.append(entry({ summary: 'rolled back' }), client);
      await client.query('ROLLBACK');
      expect(await rowCount()).toBe(before);
      // The sequence moved on; the chain does not care about id gaps.
      await client.query('BEGIN');
      const kept = await trail.append(entry({ summary: 'committed' }), client);
      // Another append waits for the caller's commit (the lock is the transaction's).
      const waiting = trail.append(entry({ summary: 'after the commit' }));
      await new Promise((r) => setTimeout(r, 200));
      await client.query('COMMIT');
      const after = await waiting;
      expect(after.id).toBeGreaterThan(kept.id);
      expect((await trail.list({ limit: 2 })).map((r) => r.summary)).toEqual([
        'after the commit',
        'committed',
      ]);
    } finally {
      client.release();
    }
    expect((await trail.verify()).ok).toBe(true);
  });

  it('lists by person, since a time and by request, newest first, bounded', async () => {
    const now = Date.now();
    await trail.append(
      entry({ actorId: 'U0DEVLEAD1', at: new Date(now - 3 * 3600_000), requestId: 'R-OLD00001' }),
    );
    await trail.append(entry({ actorId: 'U0DEVLEAD1', at: new Date(now - 60_000), requestId: 'R-NEW00001' }));
    const mine = await trail.list({ userId: 'U0DEVLEAD1' });
    expect(mine.map((r) => r.requestId)).toEqual(['R-NEW00001', 'R-OLD00001']);
    const recent = await trail.list({ userId: 'U0DEVLEAD1', since: new Date(now - 3600_000) });
    expect(recent.map((r) => r.requestId)).toEqual(['R-NEW00001']);
    expect((await trail.list({ requestId: 'R-OLD00001' })).map((r) => r.actorId)).toEqual(['U0DEVLEAD1']);
    expect(await trail.list({ limit: 3 })).toHaveLength(3);
  });
});

describe('append-only and tamper-evident', () => {
  it('UPDATE, DELETE and TRUNCATE are refused by the trigger, even for a superuser', async () => {
    const before = await rowCount();
    await superuser(async (c) => {
      await expect(c.query(`UPDATE audit_trail SET summary = 'nothing happened'`)).rejects.toThrow(
        'audit_trail is append-only (UPDATE refused)',
      );
      await expect(c.query('DELETE FROM audit_trail')).rejects.toThrow(
        'audit_trail is append-only (DELETE refused)',
      );
      await expect(c.query('TRUNCATE audit_trail')).rejects.toThrow(
        'audit_trail is append-only (TRUNCATE refused)',
      );
      // PUBLIC holds no UPDATE/DELETE/TRUNCATE on it.
      const { rows } = await c.query(
        `SELECT privilege_type FROM information_schema.role_table_grants
          WHERE table_schema = $1 AND table_name = 'audit_trail' AND grantee = 'PUBLIC'`,
        [store.schema],
      );
      expect(rows).toEqual([]);
    });
    expect(await rowCount()).toBe(before);
  });

  it('a row changed directly in the database breaks the chain exactly at that row, and the CLI says so', {
    timeout: 60_000,
  }, async () => {
    const ok = await cli(['verify']);
    expect(ok).toMatchObject({ code: 0 });
    const total = await rowCount();
    const last = (await trail.list({ limit: 1 }))[0];
    expect(ok.stdout.trim()).toBe(`audit chain ok: ${total} rows, last hash ${last?.hash}`);

    const rows = (await trail.list({ limit: 1000 })).reverse();
    const target = rows[3];
    if (!target) throw new Error('expected rows');
    await tamper(`UPDATE audit_trail SET summary = 'restart app-03' WHERE id = $1`, [target.id]);
    try {
      expect(await trail.verify()).toEqual({
        ok: false,
        rows: 3,
        brokenAtId: target.id,
        reason: 'its content does not match its hash (the row was changed after it was written)',
      });
      const broken = await cli(['verify']);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain(
        `audit chain BROKEN at row ${target.id}: its content does not match its hash`,
      );
    } finally {
      await tamper('UPDATE audit_trail SET summary = $2 WHERE id = $1', [target.id, target.summary]);
    }
    expect((await trail.verify()).ok).toBe(true);

    // A microsecond the JavaScript Date could not even hold is still part of the hash.
    await tamper(`UPDATE audit_trail SET at = at + interval '1 microsecond' WHERE id = $1`, [target.id]);
    try {
      expect(await trail.verify()).toMatchObject({ ok: false, brokenAtId: target.id });
    } finally {
      await tamper(`UPDATE audit_trail SET at = at - interval '1 microsecond' WHERE id = $1`, [target.id]);
    }

    // Someone who also recomputes the row's hash moves the break to the next row, which names it.
    const next = rows[4];
    if (!next) throw new Error('expected rows');
    const forged = auditRowHash(target.prevHash, {
      ...target,
      at: chainInstant(target.at),
      summary: 'restart app-03',
    });
    await tamper(`UPDATE audit_trail SET summary = 'restart app-03', hash = $2 WHERE id = $1`, [
      target.id,
      forged,
    ]);
    try {
      const check = await trail.verify();
      expect(check).toMatchObject({ ok: false, brokenAtId: next.id, rows: 4 });
      if (!check.ok) expect(check.reason).toContain(`is not the hash of row ${target.id}`);
      // Verifying from a later row trusts the row before it as the anchor.
      expect(await trail.verify({ fromId: rows[6]?.id })).toMatchObject({ ok: true });
    } finally {
      await tamper('UPDATE audit_trail SET summary = $2, hash = $3 WHERE id = $1', [
        target.id,
        target.summary,
        target.hash,
      ]);
    }
    expect((await trail.verify()).ok).toBe(true);
  });

  it('a deleted middle row is found at the row after it', { timeout: 60_000 }, async () => {
    const rows = (await trail.list({ limit: 1000 })).reverse();
    const victim = rows[5];
    const after = rows[6];
    if (!victim || !after) throw new Error('expected rows');
    const { rows: saved } = await store.db.query(
      `SELECT *, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_text FROM audit_trail WHERE id = $1`,
      [victim.id],
    );
    await tamper('DELETE FROM audit_trail WHERE id = $1', [victim.id]);
    try {
      const check = await trail.verify();
      expect(check).toMatchObject({ ok: false, brokenAtId: after.id, rows: 5 });
      if (!check.ok) {
        expect(check.reason).toContain(
          `ids jump from ${rows[4]?.id} to ${after.id}; a row between them was deleted`,
        );
      }
      const broken = await cli(['verify']);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain(`audit chain BROKEN at row ${after.id}: prev_hash`);
    } finally {
      await restoreRow(saved[0]);
    }
    expect((await trail.verify()).ok).toBe(true);
  });

  it('deleting the first rows is found at the new first row', async () => {
    const first = (await trail.list({ limit: 1000 })).at(-1);
    if (!first) throw new Error('expected rows');
    const { rows: saved } = await store.db.query(
      `SELECT *, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_text FROM audit_trail WHERE id = $1`,
      [first.id],
    );
    await tamper('DELETE FROM audit_trail WHERE id = $1', [first.id]);
    try {
      const check = await trail.verify();
      expect(check).toMatchObject({ ok: false, rows: 0 });
      if (!check.ok) expect(check.reason).toContain('no row comes before it');
    } finally {
      await restoreRow(saved[0]);
    }
    expect((await trail.verify()).ok).toBe(true);
  });

  it('a second successor of one row (a forked chain) is refused by the database', async () => {
    const tip = (await trail.list({ limit: 1 }))[0];
    await expect(
      superuser((c) =>
        c.query(
          `INSERT INTO audit_trail (at, kind, summary, prev_hash, hash) VALUES (now(), 'step', 'fork', $1, repeat('a', 64))`,
          [tip?.prevHash],
        ),
      ),
    ).rejects.toThrow(/audit_trail_one_successor/);
  });
});

describe('slash commands feed the trail', () => {
  const invocation = (over: Partial<CommandAuditEntry> = {}): CommandAuditEntry => ({
    ref: `R${Math.random().toString(36).slice(2, 10).toUpperCase()}`,
    at: new Date(),
    userId: 'U0ONCALL01',
    userName: 'oncall',
    teamId: 'T0QNWISLAB',
    channelId: 'C0QNWISOPS',
    channelName: 'qnwis-ops',
    command: '/qnwis',
    verb: 'incident',
    args: { id: 7, key: 'QNWIS-7' },
    rawText: 'incident  QNWIS-7',
    role: 'L1',
    private: false,
    result: 'ok',
    detail: null,
    durationMs: 12,
    ...over,
  });

  it('a read-only command and a refusal each append one chained entry in the same transaction', async () => {
    const audit = new CommandAuditStore(store.db);
    const read = invocation();
    await audit.record(read);
    const refused = invocation({
      userId: 'U0OUTSIDE1',
      role: null,
      verb: 'status',
      args: {},
      rawText: 'status',
      result: 'refused',
      detail: 'needs L1; has no role',
    });
    await audit.record(refused);
    const [r2, r1] = await trail.list({ limit: 2 });
    expect(r1).toMatchObject({
      kind: 'read-only',
      actorId: 'U0ONCALL01',
      actorName: 'oncall',
      actorRole: 'L1',
      incidentId: 7,
      summary: '/qnwis incident QNWIS-7',
      data: { ref: read.ref, verb: 'incident', result: 'ok', channelId: 'C0QNWISOPS' },
    });
    expect(r2).toMatchObject({
      kind: 'refusal',
      actorId: 'U0OUTSIDE1',
      actorRole: null,
      summary: '/qnwis status (refused)',
      data: { ref: refused.ref, detail: 'needs L1; has no role' },
    });
    expect(r2?.prevHash).toBe(r1?.hash);
    // A failed invocation (duplicate ref) leaves no trail entry either.
    const before = await rowCount();
    await expect(audit.record(read)).rejects.toThrow(/duplicate key/);
    expect(await rowCount()).toBe(before);
    // The caller may take the trail entry over (a command request writes its own).
    await audit.record(invocation({ trailKind: null }));
    expect(await rowCount()).toBe(before);
    expect((await trail.verify()).ok).toBe(true);
  });

  it('the CLI lists entries of one person since a time, newest first', { timeout: 30_000 }, async () => {
    const r = await cli(['list', '--user', 'U0OUTSIDE1', '--since', '1h']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^#\d+ {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}refusal\s+oncall \(U0OUTSIDE1\) {2}ref R\w+ {2}\/qnwis status \(refused\)$/,
    );
    expect(lines[1]).toBe('1 entry');
    const bad = await cli(['list', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since "yesterday" is not a duration like 30m, 2h or 1d');
  });
});

/** Puts back a row deleted by a tamper test, exactly as it was (`at_text` keeps its microseconds). */
async function restoreRow(s: Record<string, unknown>): Promise<void> {
  await tamper(
    `INSERT INTO audit_trail (id, at, kind, actor_id, actor_name, actor_role, request_id, incident_id, summary, data, prev_hash, hash)
     VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      s.id,
      s.at_text,
      s.kind,
      s.actor_id,
      s.actor_name,
      s.actor_role,
      s.request_id,
      s.incident_id,
      s.summary,
      s.data,
      s.prev_hash,
      s.hash,
    ],
  );
}
