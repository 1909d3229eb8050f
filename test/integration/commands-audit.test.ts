/** The command audit store against a real PostgreSQL schema: storable text, caps, append-only. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_RAW_TEXT_MAX, type CommandAuditEntry, CommandAuditStore } from '../../src/store/audit.js';
import { createTestStore, type TestStore } from '../support/store.js';

let store: TestStore;
let audit: CommandAuditStore;

beforeAll(async () => {
  store = await createTestStore();
  audit = new CommandAuditStore(store.db);
});
afterAll(async () => {
  await store?.drop();
});

const entry = (over: Partial<CommandAuditEntry> = {}): CommandAuditEntry => ({
  ref: `R${Math.random().toString(36).slice(2, 10).toUpperCase()}`,
  at: new Date('2026-11-27T22:00:00.000Z'),
  userId: 'U0ONCALL01',
  userName: 'oncall',
  teamId: 'T0QNWISLAB',
  channelId: 'C0QNWISOPS',
  channelName: 'qnwis-ops',
  command: '/qnwis',
  verb: 'logs',
  args: { host: 'app-01', log: 'error', grep: 'connection pool', lines: 100 },
  rawText: 'logs app-01 error --grep "connection pool"',
  role: 'L1',
  private: false,
  result: 'ok',
  detail: null,
  durationMs: 123.4,
  ...over,
});

describe('command audit store', () => {
  it('records and reads back an invocation', async () => {
    const e = entry();
    await audit.record(e);
    const row = await audit.byRef(e.ref);
    expect(row).toMatchObject({ ...e, durationMs: 123 });
    expect((await audit.recent({ userId: 'U0ONCALL01' }))[0]?.ref).toBe(e.ref);
  });

  it('stores hostile text: NUL and lone surrogates replaced, raw text capped at 1000', async () => {
    const e = entry({
      rawText: `logs app-01 --grep "a\u0000b\ud800" ${'x'.repeat(10_000)}`,
      args: { grep: 'a\u0000b\udfff', nested: { deeper: ['\u0000'] } },
      detail: 'y'.repeat(5000),
      result: 'invalid',
    });
    await audit.record(e);
    const row = await audit.byRef(e.ref);
    expect(row?.rawText.length).toBe(AUDIT_RAW_TEXT_MAX);
    expect(row?.rawText.startsWith('logs app-01 --grep "a\ufffdb\ufffd" xxx')).toBe(true);
    expect(row?.args).toEqual({ grep: 'a\ufffdb\ufffd', nested: { deeper: ['\ufffd'] } });
    expect(row?.detail?.length).toBe(1000);
  });

  it('refuses an unknown result and a duplicate ref', async () => {
    await expect(audit.record(entry({ result: 'maybe' as CommandAuditEntry['result'] }))).rejects.toThrow(
      /check/,
    );
    const e = entry();
    await audit.record(e);
    await expect(audit.record(e)).rejects.toThrow(/duplicate key/);
  });

  it('is append-only: UPDATE, DELETE and TRUNCATE are refused', async () => {
    const c = new pg.Client({ connectionString: store.url, options: `-c search_path=${store.schema}` });
    await c.connect();
    try {
      await expect(c.query(`UPDATE command_audit SET result = 'refused'`)).rejects.toThrow(
        'command_audit is append-only (UPDATE refused)',
      );
      await expect(c.query('DELETE FROM command_audit')).rejects.toThrow(
        'command_audit is append-only (DELETE refused)',
      );
      await expect(c.query('TRUNCATE command_audit')).rejects.toThrow(
        'command_audit is append-only (TRUNCATE refused)',
      );
      const { rows } = await c.query('SELECT count(*)::int AS n FROM command_audit');
      expect(rows[0].n).toBe(3); // nothing was removed
    } finally {
      await c.end();
    }
  });
});
