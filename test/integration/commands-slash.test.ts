/**
 * `/qnwis` end to end in-process: the local Slack stand-in sends signed slash commands to a real
 * Bolt app carrying `registerQnwisCommand` with the real pieces — the fleet adapters of
 * src/ops/index.ts against the running lab (sshd, PostgreSQL, Redis, the QNWIS app), the real
 * diagnostics, the bot's store in a schema of its own — and answers through response_url.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { App, LogLevel } from '@slack/bolt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Faults } from '../../lab/faults.js';
import { createQnwisCommandDeps, registerQnwisCommand } from '../../src/bot/commands/register.js';
import { type Config, parseConfig } from '../../src/config.js';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/server.js';
import type { Inventory } from '../../src/inventory.js';
import { createLogger } from '../../src/observability/logger.js';
import { createFleetOps, type FleetOps } from '../../src/ops/index.js';
import { type CommandAuditRow, CommandAuditStore } from '../../src/store/audit.js';
import { IncidentStore } from '../../src/store/incidents.js';
import { lab, labCredentials, labInventory } from '../support/lab.js';
import { createTestStore, type TestStore } from '../support/store.js';

const SECRET = randomBytes(16).toString('hex');
const OPS = 'C0QNWISOPS';
const ONCALL = 'U0ONCALL01';
const OUTSIDER = 'U0OUTSIDE1';

let slack: SlackLocal;
let app: App;
let server: Server;
let store: TestStore;
let fleet: FleetOps;
let inventory: Inventory;
let config: Config;
let audit: CommandAuditStore;
let closeDeps: () => Promise<void>;
const logLines: string[] = [];

interface Delivery {
  status: number | null;
  body: { response_type?: string; text?: string; blocks?: unknown[] } | null;
  error?: string;
}

interface Message {
  channel: string;
  ts: string;
  user: string;
  text: string;
  blocks: unknown[];
  ephemeral_user?: string;
}

/** Every invocation this file makes, to compare with the audit table at the end. */
const invoked: { user: string; command: string; text: string }[] = [];

async function slash(user: string, text: string, command = '/qnwis', channel = OPS) {
  invoked.push({ user, command, text });
  const started = performance.now();
  const res = await fetch(`${slack.url}/_local/command`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, channel, command, text }),
  });
  const delivery = (await res.json()) as Delivery;
  return { delivery, ackMs: performance.now() - started };
}

async function messages(channel = OPS): Promise<Message[]> {
  const res = await fetch(`${slack.url}/_local/messages?channel=${channel}&include_ephemeral=1`);
  return (await res.json()) as Message[];
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The audit row of the latest invocation of `text` by `user`. */
async function auditOf(user: string, text: string): Promise<CommandAuditRow> {
  return eventually(`the audit row of "${text}"`, async () =>
    (await audit.recent({ userId: user, limit: 200 })).find((r) => r.rawText === text),
  );
}

/** Runs a command and returns its ack, audit row and the reply message (found by its ref). */
async function run(user: string, text: string, opts: { command?: string; expectReply?: boolean } = {}) {
  const before = (await audit.recent({ userId: user, limit: 1 }))[0]?.id ?? 0;
  const { delivery, ackMs } = await slash(user, text, opts.command);
  const row = await eventually(`the audit row of "${text}"`, async () =>
    (await audit.recent({ userId: user, limit: 20 })).find((r) => r.id > before && r.rawText === text),
  );
  const reply =
    opts.expectReply === false
      ? undefined
      : await eventually(`the reply to "${text}"`, async () =>
          (await messages()).find(
            (m) =>
              m.user !== 'USLACKBOT' &&
              JSON.stringify(m.blocks).includes(`ref \`${row.ref}\``) &&
              !m.text.startsWith(':hourglass_flowing_sand:'),
          ),
        );
  return { delivery, ackMs, row, reply, blocks: reply ? JSON.stringify(reply.blocks) : '' };
}

/** The lines inside the reply's ``` code blocks, unescaped. */
function codeLines(reply: Message | undefined): string[] {
  const out: string[] = [];
  for (const b of (reply?.blocks ?? []) as { type: string; text?: { text: string } }[]) {
    const t = b.type === 'section' ? b.text?.text : undefined;
    if (!t?.startsWith('```\n')) continue;
    out.push(
      ...t
        .slice(4, -4)
        .split('\n')
        .map((l) => l.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&')),
    );
  }
  return out;
}

beforeAll(async () => {
  inventory = labInventory();
  const creds = await labCredentials();
  config = parseConfig({
    QNWIS_DB_PASSWORD: creds.postgres.ops,
    QNWIS_ADMIN_TOKEN: creds.adminToken,
    SSH_CONNECT_TIMEOUT_MS: '3000',
  });
  store = await createTestStore();
  audit = new CommandAuditStore(store.db);
  const log = createLogger({
    level: 'info',
    destination: { write: (line: string) => logLines.push(line) } as unknown as NodeJS.WritableStream,
  });
  fleet = createFleetOps(config, inventory, log);
  const incidents = new IncidentStore(store.db);
  const deps = createQnwisCommandDeps({
    config,
    inventory,
    diagnostics: fleet.context,
    db: store.db,
    store: incidents,
    log,
  });
  closeDeps = deps.close;

  slack = await startSlackLocal({ signingSecret: SECRET, port: 0 });
  app = new App({
    token: 'xoxb-commands-integration',
    signingSecret: SECRET,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
    tokenVerificationEnabled: false,
  });
  registerQnwisCommand(app, deps);
  // The same command with a broken incident store: an unexpected failure must become a reference.
  const broken = {
    ...deps,
    command: '/qnwis-broken',
    env: {
      ...deps.env,
      incidents: {
        openIncidents: () => Promise.reject(new Error('relation "incidents" does not exist (secret detail)')),
      } as unknown as IncidentStore,
    },
  };
  registerQnwisCommand(app, broken);
  // Roles from a Slack user group (the stand-in's qnwis-oncall), nobody mapped directly.
  registerQnwisCommand(app, {
    ...deps,
    command: '/qnwis-groups',
    rolePolicy: { users: {}, groups: { 'qnwis-oncall': 'L1' }, readMinimum: 'L1' },
  });
  server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  slack.setBotUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`);

  // One incident to look at.
  await store.db.query(
    `INSERT INTO incidents (key, group_key, alertname, severity, status, channel, opened_at)
     VALUES ('QNWIS-1', '{}:{alertname="HighErrorRate"}', 'HighErrorRate', 'SEV-2', 'firing', 'qnwis-alerts', now() - interval '5 minutes')`,
  );
  await store.db.query(`UPDATE incidents SET key = 'QNWIS-' || id`);
});

afterAll(async () => {
  await new Faults(lab).heal('error-rate');
  await app?.stop();
  await slack?.close();
  await closeDeps?.();
  await fleet?.close();
  await store?.drop();
});

describe('/qnwis for the on-call (L1)', () => {
  const VERBS: [string, string][] = [
    ['status', 'QNWIS status · lab'],
    ['logs app-01', 'Logs · app-01 · app'],
    ['logs app-02 error --lines 20', 'Logs · app-02 · error'],
    ['logs app-03 audit --grep user_id= --lines 50', 'Logs · app-03 · audit'],
    ['logs lb', 'Logs · lb · access'],
    ['db connections', 'Database · connections'],
    ['db activity', 'Database · running statements'],
    ['db slow', 'Database · statements running over 5 s'],
    ['db statements', 'Database · slowest statements (pg_stat_statements)'],
    ['db tables', 'Database · table sizes'],
    ['db seqscans', 'Database · sequential scans'],
    ['db lag', 'Database · replication'],
    ['redis memory', 'Redis · memory'],
    ['redis stats', 'Redis · stats'],
    ["redis keys 'qnwis:cache:*'", 'Redis · keys qnwis:cache:*'],
    ['security', 'Security monitoring'],
    ['cert', 'TLS certificates'],
    ['incidents', 'Open incidents (1)'],
    ['incident QNWIS-1', 'QNWIS-1 · SEV-2 HighErrorRate'],
    ['incident 999', 'There is no incident *QNWIS-999*'],
  ];

  it.each(VERBS)(
    '/qnwis %s: ack within 3 s, result in the channel, audited ok',
    { timeout: 40_000 },
    async (text, expected) => {
      const r = await run(ONCALL, text);
      expect(r.delivery.error).toBeUndefined();
      expect(r.delivery.status).toBe(200);
      expect(r.ackMs).toBeLessThan(3000);
      expect(r.delivery.body).toMatchObject({
        response_type: 'ephemeral',
        text: `:hourglass_flowing_sand: Running \`/qnwis ${text.replaceAll('>', '&gt;')}\`…`,
      });
      expect(r.reply?.ephemeral_user).toBeUndefined(); // in the channel
      expect(r.blocks.replaceAll('\\"', '"')).toContain(expected.replaceAll('\\"', '"'));
      expect(r.row).toMatchObject({
        result: 'ok',
        userId: ONCALL,
        userName: 'oncall',
        channelId: OPS,
        role: 'L1',
        private: false,
      });
      expect(r.row.durationMs).toBeGreaterThanOrEqual(0);
    },
  );

  it('status reports real hosts, the database pair, redis, maintenance and the open incident', async () => {
    const r = await run(ONCALL, 'status --private');
    expect(r.reply?.ephemeral_user).toBe(ONCALL);
    expect(r.row).toMatchObject({ result: 'ok', private: true, verb: 'status' });
    for (const host of ['app-01', 'app-02', 'app-03', 'db-primary', 'redis-01', 'redis-02'])
      expect(r.blocks).toContain(`*${host}*`);
    expect(r.blocks).toContain('*Maintenance mode:* off');
    expect(r.blocks).toContain('*QNWIS-1* SEV-2 HighErrorRate');
    expect(r.reply?.text).toMatch(/^QNWIS status \(lab\): \d\/3 app hosts ok/);
  });

  it('help answers in the ack, open to everyone', async () => {
    const { delivery } = await slash(OUTSIDER, 'help logs');
    expect(delivery.body?.response_type).toBe('ephemeral');
    expect(JSON.stringify(delivery.body?.blocks)).toContain('/qnwis logs HOST');
    expect(await auditOf(OUTSIDER, 'help logs')).toMatchObject({ result: 'ok', verb: 'help', role: null });
  });

  it('redis keys lists keys with SCAN; a pattern outside the key space is refused with usage', async () => {
    const r = await run(ONCALL, "redis keys 'qnwis:cache:*'");
    expect(r.blocks).toMatch(/qnwis:cache:query:q_\d{4}_\d+/);
    expect(r.blocks).toContain('(never KEYS)');
    const refused = await slash(ONCALL, "redis keys '*'");
    expect(refused.delivery.body?.text).toContain('outside the cache key space');
    expect(JSON.stringify(refused.delivery.body?.blocks)).toContain('/qnwis redis memory|stats|keys PATTERN');
    expect(await auditOf(ONCALL, "redis keys '*'")).toMatchObject({
      result: 'invalid',
      verb: 'redis',
      args: {},
    });
  });

  it('unknown host: the usage and the valid hosts, nothing runs', async () => {
    const { delivery } = await slash(ONCALL, 'logs аpp-01 error');
    expect(delivery.body?.text).toBe(
      '/qnwis: unknown host "аpp-01" (did you mean app-01?); hosts with logs: app-01, app-02, app-03, lb',
    );
    expect(await auditOf(ONCALL, 'logs аpp-01 error')).toMatchObject({ result: 'invalid', verb: 'logs' });
  });
});

describe('refusals and failures', () => {
  it('the outsider is refused politely, told who can run it, and nothing runs', async () => {
    const before = (await messages()).length;
    const { delivery } = await slash(OUTSIDER, 'status');
    expect(delivery.status).toBe(200);
    expect(delivery.body?.response_type).toBe('ephemeral');
    const shown = JSON.stringify(delivery.body?.blocks);
    expect(shown).toContain(
      'Sorry, `/qnwis status` is limited to L1 on-call engineer, L2 senior SRE, L3 development team, L4 management (you have no QNWIS role).',
    );
    expect(shown).toContain('<@U0ONCALL01>');
    expect(await auditOf(OUTSIDER, 'status')).toMatchObject({
      result: 'refused',
      verb: 'status',
      role: null,
      detail: 'needs L1; has no role',
    });
    await new Promise((r) => setTimeout(r, 300));
    const after = await messages();
    // Only the refusal (ephemeral, from the ack) was added: no channel message.
    expect(after.slice(before).filter((m) => !m.ephemeral_user)).toEqual([]);
    const { delivery: d2 } = await slash(OUTSIDER, 'logs app-01 --grep x');
    expect(d2.body?.text).toBe('This /qnwis command is not available to you');
  });

  it('an unexpected failure shows only a reference, which is in the audit and the log', async () => {
    const r = await run(ONCALL, 'incidents', { command: '/qnwis-broken' });
    expect(r.reply?.text).toBe(`Something went wrong (ref ${r.row.ref})`);
    expect(r.blocks).not.toContain('secret detail');
    expect(r.row).toMatchObject({ result: 'error', command: '/qnwis-broken', detail: 'Error' });
    const logged = logLines
      .map((l) => JSON.parse(l) as { ref?: string; msg: string; err?: { message: string } })
      .find((l) => l.ref === r.row.ref);
    expect(logged?.msg).toBe('qnwis command failed');
    expect(logged?.err?.message).toContain('secret detail');
  });

  it('roles can come from a Slack user group', async () => {
    const r = await run(ONCALL, 'db lag', { command: '/qnwis-groups' });
    expect(r.row).toMatchObject({ result: 'ok', role: 'L1' });
    const { delivery } = await slash('U0SRE00001', 'db lag', '/qnwis-groups');
    expect(delivery.body?.text).toBe('This /qnwis command is not available to you');
  });
});

describe('logs against the lab', () => {
  it('logs app-01 error --grep "connection pool" returns that host’s lines after an error-rate fault', {
    timeout: 60_000,
  }, async () => {
    const faults = new Faults(lab);
    const since = new Date().toISOString();
    const errorLog = path.join(lab.hostDir('app-01'), 'log/qnwis/error.log');
    await faults.inject('error-rate', 'app-01');
    try {
      // Until the app has failed a query with "connection pool exhausted" (a quarter of its failures).
      await eventually(
        'a new connection pool error on app-01',
        async () =>
          readFileSync(errorLog, 'utf8')
            .split('\n')
            .some((l) => l.includes('connection pool') && l.slice(7, 31) >= since)
            ? true
            : undefined,
        30_000,
      );
    } finally {
      await faults.heal('error-rate');
    }
    const r = await run(ONCALL, 'logs app-01 error --grep "connection pool" --lines 1000');
    expect(r.blocks).toContain("grep -F -e 'connection pool'");
    // Lines are shown as "time level logger: message"; each must be one of app-01's own lines.
    const shown = codeLines(r.reply);
    expect(shown.length).toBeGreaterThan(0);
    const own = readFileSync(errorLog, 'utf8');
    const other = readFileSync(path.join(lab.hostDir('app-02'), 'log/qnwis/error.log'), 'utf8');
    for (const line of shown) {
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z ERROR qnwis\.query: .*connection pool exhausted/);
      const ts = line.slice(0, 24);
      expect(own).toContain(`"ts":"${ts}"`);
      expect(other).not.toContain(
        `"ts":"${ts}","level":"ERROR","logger":"qnwis.query","msg":"${line.slice(44)}`,
      );
    }
    expect(shown.some((l) => l.slice(0, 24) >= since)).toBe(true);
    expect(r.row.args).toEqual({ host: 'app-01', log: 'error', grep: 'connection pool', lines: 1000 });
  });

  it('logs app-01 app --grep "$(touch /tmp/pwned)" runs nothing: the text is only searched for', {
    timeout: 60_000,
  }, async () => {
    rmSync('/tmp/pwned', { force: true });
    const journal = path.join(lab.hostDir('app-01'), 'run/qnwis.journal');
    const sshdLog = path.join(lab.hostDir('app-01'), 'sshd.log');
    const before = {
      journal: readFileSync(journal, 'utf8').length,
      sshd: readFileSync(sshdLog, 'utf8').length,
    };
    const payloads = [
      '$(touch /tmp/pwned)',
      '`touch /tmp/pwned`',
      "'; touch /tmp/pwned; '",
      '; touch /tmp/pwned',
      '&& touch /tmp/pwned',
      '| touch /tmp/pwned',
      '../../../../tmp/pwned',
      '--help',
    ];
    for (const p of payloads) {
      const quoted = p.includes('"') ? `'${p}'` : `"${p}"`;
      const r = await run(ONCALL, `logs app-01 app --grep ${quoted}`);
      expect(r.row).toMatchObject({ result: 'ok', args: { grep: p } });
      expect(r.blocks).toContain(`in the last 100 lines of /var/log/qnwis/app.log`); // no line matched
      expect(existsSync('/tmp/pwned')).toBe(false);
    }
    // Neither the unit's journal (the systemctl/journalctl shims) nor sshd saw any of it.
    const journalAfter = readFileSync(journal, 'utf8').slice(before.journal);
    const sshdAfter = readFileSync(sshdLog, 'utf8').slice(before.sshd);
    expect(journalAfter).not.toContain('pwned');
    expect(sshdAfter).not.toContain('pwned');
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('a newline or NUL in --grep never reaches the host', async () => {
    const { delivery } = await slash(ONCALL, 'logs app-01 --grep "a\u0000b"');
    expect(delivery.body?.text).toContain('--grep text contains control or invisible characters');
    // PostgreSQL text cannot hold NUL: the audit keeps the text with U+FFFD in its place.
    const row = await auditOf(ONCALL, 'logs app-01 --grep "a\ufffdb"');
    expect(row).toMatchObject({ result: 'invalid', verb: 'logs' });
    const { delivery: nl } = await slash(ONCALL, 'logs app-01 --grep "a\nb"');
    expect(nl.body?.text).toContain('--grep text contains control or invisible characters');
  });
});

describe('the audit trail', () => {
  it('has one row per invocation of this file, allowed, refused, invalid or failed', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const rows = await audit.recent({ limit: 1000 });
    expect(rows).toHaveLength(invoked.length);
    const byResult = rows.reduce<Record<string, number>>((acc, r) => {
      acc[r.result] = (acc[r.result] ?? 0) + 1;
      return acc;
    }, {});
    expect(Object.keys(byResult).sort()).toEqual(['error', 'invalid', 'ok', 'refused']);
    expect(new Set(rows.map((r) => r.ref)).size).toBe(rows.length);
  });

  it('is append-only', async () => {
    const c = new pg.Client({ connectionString: store.url, options: `-c search_path=${store.schema}` });
    await c.connect();
    try {
      await expect(c.query(`UPDATE command_audit SET result = 'ok'`)).rejects.toThrow(
        /append-only \(UPDATE refused\)/,
      );
      await expect(c.query('DELETE FROM command_audit')).rejects.toThrow(/append-only \(DELETE refused\)/);
      await expect(c.query('TRUNCATE command_audit')).rejects.toThrow(/append-only \(TRUNCATE refused\)/);
    } finally {
      await c.end();
    }
  });
});
