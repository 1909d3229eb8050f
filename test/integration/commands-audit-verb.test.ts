/**
 * `/qnwis audit` end to end in-process: the local Slack stand-in sends signed slash commands to a
 * real Bolt app carrying `registerQnwisCommand` (deps from `createQnwisCommandDeps`), with the
 * bot's store in a schema of its own. Every invocation lands in the hash-chained trail; L2 and
 * above read it back in Slack, L1 is refused (and that refusal is itself in the trail).
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQnwisCommandDeps, registerQnwisCommand } from '../../src/bot/commands/register.js';
import { parseConfig } from '../../src/config.js';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/server.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createFleetOps, type FleetOps } from '../../src/ops/index.js';
import { AuditTrail, type AuditTrailRow } from '../../src/store/audit-trail.js';
import { IncidentStore } from '../../src/store/incidents.js';
import { labInventory } from '../support/lab.js';
import { createTestStore, type TestStore } from '../support/store.js';

const SECRET = randomBytes(16).toString('hex');
const OPS = 'C0QNWISOPS';
const ONCALL = 'U0ONCALL01';
const SRE = 'U0SRE00001';
const MANAGER = 'U0MANAGER1';

let slack: SlackLocal;
let app: App;
let server: Server;
let store: TestStore;
let fleet: FleetOps;
let trail: AuditTrail;
let closeDeps: () => Promise<void>;

interface Delivery {
  status: number | null;
  body: { response_type?: string; text?: string; blocks?: unknown[] } | null;
  error?: string;
}
interface Message {
  user: string;
  text: string;
  blocks: unknown[];
  ephemeral_user?: string;
}

async function slash(user: string, text: string): Promise<Delivery> {
  const res = await fetch(`${slack.url}/_local/command`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, channel: OPS, command: '/qnwis', text }),
  });
  return (await res.json()) as Delivery;
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The trail entry of the latest invocation of `text` by `user`. */
function entryOf(user: string, text: string): Promise<AuditTrailRow> {
  return eventually(`the trail entry of "${text}"`, async () =>
    (await trail.list({ userId: user, limit: 50 })).find((r) => r.summary.startsWith(`/qnwis ${text}`)),
  );
}

/** The reply that carries the invocation's ref. */
function replyWithRef(ref: string): Promise<Message> {
  return eventually(`the reply with ref ${ref}`, async () => {
    const res = await fetch(`${slack.url}/_local/messages?channel=${OPS}&include_ephemeral=1`);
    return ((await res.json()) as Message[]).find(
      (m) => JSON.stringify(m.blocks).includes(`ref \`${ref}\``) && !m.text.startsWith(':hourglass'),
    );
  });
}

beforeAll(async () => {
  const inventory = labInventory();
  const config = parseConfig({});
  store = await createTestStore();
  trail = new AuditTrail(store.db);
  // Constructed only: the audit and incidents verbs never reach the fleet.
  fleet = createFleetOps(config, inventory, silentLogger);
  const deps = createQnwisCommandDeps({
    config,
    inventory,
    diagnostics: fleet.context,
    db: store.db,
    store: new IncidentStore(store.db),
    log: silentLogger,
    security: { heavyQueryUsers: async () => [] },
  });
  closeDeps = deps.close;
  slack = await startSlackLocal({ signingSecret: SECRET, port: 0 });
  app = new App({
    token: 'xoxb-audit-verb-integration',
    signingSecret: SECRET,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
    tokenVerificationEnabled: false,
  });
  registerQnwisCommand(app, deps);
  server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  slack.setBotUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`);
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await closeDeps?.();
  await fleet?.close();
  await store?.drop();
});

describe('/qnwis audit', () => {
  it('every invocation is a chained trail entry; L2 reads them back with who, what, when and ref', async () => {
    expect((await slash(ONCALL, 'incidents')).status).toBe(200);
    const read = await entryOf(ONCALL, 'incidents');
    expect(read).toMatchObject({ kind: 'read-only', actorId: ONCALL, actorName: 'oncall', actorRole: 'L1' });

    // The on-call may not read the audit trail: refused, told who can, and the refusal is recorded.
    const refused = await slash(ONCALL, 'audit');
    const shown = JSON.stringify(refused.body?.blocks);
    expect(refused.body?.response_type).toBe('ephemeral');
    expect(shown).toContain(
      'Sorry, `/qnwis audit` is limited to L2 senior SRE, L3 development team, L4 management (your role is L1 on-call engineer).',
    );
    expect(shown).toContain('<@U0SRE00001>');
    expect(await entryOf(ONCALL, 'audit')).toMatchObject({
      kind: 'refusal',
      summary: '/qnwis audit (refused)',
      data: { detail: 'needs L2; has L1' },
    });

    const ack = await slash(SRE, 'audit');
    expect(ack.body?.text).toContain('Running `/qnwis audit`');
    const own = await entryOf(SRE, 'audit');
    const reply = await replyWithRef(String(own.data.ref));
    expect(reply.ephemeral_user).toBeUndefined(); // in the channel, like the other verbs
    const blocks = JSON.stringify(reply.blocks);
    expect(blocks).toContain('Audit trail');
    const time = (d: Date) => `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    // Newest first: the refusal before the read-only command; the audit's own entry is written after.
    const refusal = await entryOf(ONCALL, 'audit');
    expect(blocks).toContain(
      `:no_entry: ${time(refusal.at)} · <@${ONCALL}> (L1) · *refusal* · ref \`${refusal.data.ref}\`\\n      /qnwis audit (refused)`,
    );
    expect(blocks).toContain(
      `:mag: ${time(read.at)} · <@${ONCALL}> (L1) · *read-only* · ref \`${read.data.ref}\`\\n      /qnwis incidents`,
    );
    expect(blocks.indexOf('*refusal*')).toBeLessThan(blocks.indexOf('*read-only*'));
    expect(await trail.verify()).toMatchObject({ ok: true, rows: 3 });
  });

  it('--user with a Slack mention and --since narrow it; a bad window is a usage error', async () => {
    await slash(MANAGER, 'incidents --private');
    await entryOf(MANAGER, 'incidents --private');
    const text = `audit --user <@${ONCALL}|oncall> --since 1h --private`;
    await slash(MANAGER, text);
    const own = await entryOf(MANAGER, text);
    expect(own).toMatchObject({
      kind: 'read-only',
      actorRole: 'L4',
      data: { args: { userId: ONCALL, sinceSec: 3600 } },
    });
    const reply = await replyWithRef(String(own.data.ref));
    expect(reply.ephemeral_user).toBe(MANAGER);
    const blocks = JSON.stringify(reply.blocks);
    expect(blocks).toContain(`by <@${ONCALL}> · last 1h (since `);
    expect(blocks).toContain('/qnwis incidents');
    expect(blocks).not.toContain(`<@${MANAGER}> (L4)`); // only the on-call's entries

    const bad = await slash(SRE, 'audit --since forever');
    expect(bad.body?.text).toBe('/qnwis: --since "forever" is not a duration like 30m, 2h or 1d');
    expect(await entryOf(SRE, 'audit --since forever')).toMatchObject({
      summary: '/qnwis audit --since forever (invalid)',
    });
    expect((await trail.verify()).ok).toBe(true);
  });
});
