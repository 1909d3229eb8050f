/**
 * `maintenance on "…" --for 30m` / `maintenance off` against the lab with the real adapters: the
 * app's fleet-wide maintenance mode (every app host's /health must report it), a silence in the
 * lab's real Alertmanager (http://127.0.0.1:9093) that really silences an app alert and is expired
 * by `off`, and a PagerDuty change event recorded by a stand-in started in this process.
 *
 * Maintenance mode and the silence are fleet-wide: other tests that read the app's state (e.g. the
 * `/qnwis status` test expecting "Maintenance mode: off") must not run at the same time. afterAll
 * always turns maintenance off and expires every silence this command made, whatever failed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PagerDutyLocal, startPagerDutyLocal } from '../../src/dev/pagerduty/index.js';
import { PagerDutyRejectedError } from '../../src/errors.js';
import type { Inventory } from '../../src/inventory.js';
import { AlertmanagerClient } from '../../src/ops/adapters/alertmanager.js';
import { createChangeEventsClient } from '../../src/ops/adapters/pagerduty-change.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import { type CommandArgs, parseCommand } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  type CommandOutcome,
  createCommandContext,
  maintenance,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { MAINTENANCE_CREATED_BY, maintenanceMarker } from '../../src/ops/commands/maintenance.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';
import { labCredentials, labInventory } from '../support/lab.js';

const AM = 'http://127.0.0.1:9093';
const APP_HEALTH = ['127.0.1.1', '127.0.1.2', '127.0.1.3'].map((a) => `http://${a}:8000/health`);
const PROBE_ALERT = 'QnwisChatopsSilenceProbe';

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let pd: PagerDutyLocal;
let ctx: CommandContext;
let adminToken: string;
const requestRef = `REQ-test-${randomBytes(3).toString('hex')}`;

interface AmSilence {
  id: string;
  status: { state: string };
  createdBy: string;
  comment: string;
  startsAt: string;
  endsAt: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual?: boolean }[];
}

/** Alertmanager read with plain fetch, independently of the adapter under test. */
async function amSilence(id: string): Promise<AmSilence> {
  const res = await fetch(`${AM}/api/v2/silence/${id}`, { signal: AbortSignal.timeout(5_000) });
  expect(res.status).toBe(200);
  return (await res.json()) as AmSilence;
}

async function amSilences(): Promise<AmSilence[]> {
  const res = await fetch(`${AM}/api/v2/silences`, { signal: AbortSignal.timeout(5_000) });
  return (await res.json()) as AmSilence[];
}

const ours = (s: AmSilence) =>
  s.createdBy === MAINTENANCE_CREATED_BY && s.comment.startsWith(maintenanceMarker(inventory.environment));

async function appMaintenance(): Promise<boolean[]> {
  return Promise.all(
    APP_HEALTH.map(async (url) => {
      const body = (await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).json()) as {
        maintenance: boolean;
      };
      return body.maintenance;
    }),
  );
}

async function setAppMaintenance(enabled: boolean): Promise<Response> {
  return fetch('http://127.0.1.1:8000/admin/maintenance', {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ enabled }),
    signal: AbortSignal.timeout(5_000),
  });
}

async function changeEvents(): Promise<
  {
    outcome: string;
    http_status: number;
    body: {
      payload: {
        summary: string;
        source: string;
        timestamp: string;
        custom_details: Record<string, unknown>;
      };
      links: { href: string; text?: string }[];
    };
  }[]
> {
  const res = await fetch(`${pd.url}/_local/change-events`, { signal: AbortSignal.timeout(5_000) });
  return res.json() as never;
}

function args(raw: Record<string, unknown>): CommandArgs['maintenance'] {
  const parsed = parseCommand('maintenance', raw, inventory);
  if (!parsed.ok || parsed.command.name !== 'maintenance')
    throw new Error(`did not parse: ${JSON.stringify(raw)}`);
  return parsed.command.args;
}

async function runIt(a: CommandArgs['maintenance']): Promise<{
  outcome: CommandOutcome;
  progress: StepProgress[];
  plan: Awaited<ReturnType<typeof maintenance.plan>>;
}> {
  const plan = await maintenance.plan(ctx, a);
  const pre = await maintenance.precheck(ctx, a, plan);
  expect(pre.ok, pre.ok ? '' : pre.reason).toBe(true);
  const progress: StepProgress[] = [];
  const outcome = await maintenance.run(
    ctx,
    a,
    plan,
    async (p) => {
      progress.push(p);
    },
    new AbortController().signal,
  );
  expect(outcome.status, outcome.detail).toBe('succeeded');
  return { outcome, progress, plan };
}

beforeAll(async () => {
  inventory = labInventory();
  const creds = await labCredentials();
  adminToken = creds.adminToken;
  // The lab must be out of maintenance with no silence of ours: this test would otherwise end
  // someone else's window in afterAll.
  expect(await appMaintenance(), 'the lab is already in maintenance mode').toEqual([false, false, false]);
  expect(
    (await amSilences()).filter((s) => ours(s) && s.status.state !== 'expired').map((s) => s.id),
    'a qnwis-chatops maintenance silence is already active in the lab',
  ).toEqual([]);

  ssh = new SshRunner({ connectTimeoutMs: 3_000 });
  db = new FleetDatabase({ database: inventory.database, password: creds.postgres.ops });
  cache = new FleetCache({ cache: inventory.cache, password: undefined });
  pd = await startPagerDutyLocal({
    http: { port: 0 },
    https: false,
    webhook: { url: 'http://127.0.0.1:9/unused', secrets: ['unused-webhook-secret'] },
  });
  ctx = {
    ...createCommandContext(
      createDiagnosticContext({ inventory, ssh, db, cache, adminToken, stepTimeoutMs: 5_000 }),
    ),
    alertmanager: new AlertmanagerClient({ url: inventory.monitoring.alertmanagerUrl ?? AM }),
    changeEvents: createChangeEventsClient({ eventsUrl: pd.url, routingKey: pd.routingKey }),
    requestRef,
  };
});

afterAll(async () => {
  // Whatever happened above: the fleet out of maintenance, no silence of ours left.
  if (adminToken) await setAppMaintenance(false).catch(() => undefined);
  if (inventory) {
    for (const s of await amSilences().catch(() => [] as AmSilence[])) {
      if (ours(s) && s.status.state !== 'expired')
        await fetch(`${AM}/api/v2/silence/${s.id}`, { method: 'DELETE' }).catch(() => undefined);
    }
  }
  await pd?.close();
  await Promise.all([ssh?.close(), db?.close(), cache?.close()]);
});

describe('maintenance on → off in the lab', () => {
  it('on: every app host reports maintenance, a scoped expiring silence silences app alerts, PagerDuty records the change; off undoes it', async () => {
    const message = `Scheduled maintenance in progress (${requestRef})`;
    const on = args({ mode: 'on', message, for: '30m' });
    expect(on).toEqual({ mode: 'on', message, forSec: 1800 });

    // ---- on
    const started = Date.now();
    const { outcome, progress, plan } = await runIt(on);
    const tookMs = Date.now() - started;
    expect(plan.steps.map((s) => s.id)).toEqual([
      'read-state',
      'app-on',
      'confirm',
      'silence',
      'change-event',
    ]);
    expect(plan.facts.silence?.matchers).toEqual([
      { name: 'service', value: 'qnwis', isRegex: false, isEqual: true },
    ]);
    expect(plan.blastRadius).toContain('every app host (3: app-01, app-02, app-03)');
    expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual([
      'read-state:running',
      'read-state:done',
      'app-on:running',
      'app-on:done',
      'confirm:running',
      'confirm:done',
      'silence:running',
      'silence:done',
      'change-event:running',
      'change-event:done',
    ]);
    expect(progress[3]?.detail).toMatch(/^maintenance on through app-01 /);
    expect(progress[5]?.detail).toMatch(/^app-01, app-02, app-03 report maintenance true after /);
    expect(tookMs).toBeLessThan(15_000);

    // The app, seen directly: every host, and the fleet state with our message.
    expect(await appMaintenance()).toEqual([true, true, true]);
    const fleet = (await (
      await fetch('http://127.0.1.2:8000/admin/maintenance', {
        headers: { authorization: `Bearer ${adminToken}` },
      })
    ).json()) as { enabled: boolean; message: string };
    expect(fleet).toMatchObject({ enabled: true, message });

    // Alertmanager, seen directly: one active silence of ours, scoped, ending 30 min after it started.
    const id = outcome.observations.silenceId as string;
    const silence = await amSilence(id);
    expect(silence.status.state).toBe('active');
    expect(silence.createdBy).toBe('qnwis-chatops');
    expect(silence.comment).toBe(
      `[qnwis-chatops maintenance env=lab] ${JSON.stringify(message)} for 30m (request ${requestRef})`,
    );
    expect(silence.matchers).toEqual([{ name: 'service', value: 'qnwis', isRegex: false, isEqual: true }]);
    expect(Date.parse(silence.endsAt)).toBe(Date.parse(outcome.observations.silenceEndsAt as string));
    expect(Date.parse(silence.endsAt) - started).toBeGreaterThan(1800_000 - 1_000);
    expect(Date.parse(silence.endsAt) - Date.now()).toBeLessThanOrEqual(1800_000);

    // …and it silences an app alert: a short-lived probe alert that resolves while the silence still
    // holds (`off` waits for that below), so Alertmanager never notifies anyone about it.
    const probeEndsMs = Date.now() + 3_000;
    const probeEnds = new Date(probeEndsMs).toISOString();
    const posted = await fetch(`${AM}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname: PROBE_ALERT, service: 'qnwis', severity: 'none', host: 'app-01' },
          annotations: { summary: 'qnwis-chatops maintenance test probe' },
          startsAt: new Date().toISOString(),
          endsAt: probeEnds,
        },
      ]),
    });
    expect(posted.status).toBe(200);
    const probe = (await (
      await fetch(`${AM}/api/v2/alerts?filter=${encodeURIComponent(`alertname="${PROBE_ALERT}"`)}`)
    ).json()) as { status: { state: string; silencedBy: string[] } }[];
    expect(probe[0]?.status).toMatchObject({ state: 'suppressed', silencedBy: [id] });

    // PagerDuty: the change event, with the silence and the request.
    const events = await changeEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'accepted', http_status: 202 });
    expect(events[0]?.body.payload).toMatchObject({
      summary: `Maintenance started on qnwis (lab) for 30m: ${message}`,
      source: 'qnwis-lab',
      custom_details: {
        environment: 'lab',
        message,
        duration: '30m',
        silence_id: id,
        silence_ends_at: silence.endsAt,
        silence_matchers: ['service="qnwis"'],
        app_hosts: ['app-01', 'app-02', 'app-03'],
        request: requestRef,
      },
    });
    expect(events[0]?.body.links).toEqual([{ href: `${AM}/#/silences/${id}`, text: 'Alertmanager silence' }]);

    const v = await maintenance.verify(ctx, on, plan, outcome);
    expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
    expect(v.before).toBe('the app was not in maintenance');
    expect(v.after).toContain('app-01, app-02, app-03 report maintenance true');
    expect(v.after).toContain(`silence ${id} active until ${silence.endsAt}`);
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}:${e.status}`)).toEqual([
      'health:app-01:warn',
      'health:app-02:warn',
      'health:app-03:warn',
    ]);

    // ---- off (once the probe alert has resolved under the silence: a resolved alert that was never
    // notified is not notified after the silence ends)
    await new Promise((r) => setTimeout(r, Math.max(0, probeEndsMs + 2_500 - Date.now())));
    const off = args({ mode: 'off' });
    const offRun = await runIt(off);
    expect(offRun.plan.steps.map((s) => s.id)).toEqual([
      'read-state',
      'expire-silences',
      'app-off',
      'confirm',
      'change-event',
    ]);
    expect(offRun.outcome.observations.expiredSilences).toEqual([id]);
    expect(await appMaintenance()).toEqual([false, false, false]);
    expect((await amSilence(id)).status.state).toBe('expired');
    expect((await amSilences()).filter((s) => ours(s) && s.status.state !== 'expired')).toEqual([]);
    const after = await changeEvents();
    expect(after).toHaveLength(2);
    expect(after[1]?.body.payload).toMatchObject({
      summary: 'Maintenance ended on qnwis (lab)',
      custom_details: { previous_message: message, expired_silences: [id], request: requestRef },
    });

    const vOff = await maintenance.verify(ctx, off, offRun.plan, offRun.outcome);
    expect(vOff.ok, `${vOff.detail} | ${vOff.after}`).toBe(true);
    expect(vOff.before).toMatch(/^the app was in maintenance since .+ \("Scheduled maintenance in progress/);
    expect(vOff.after).toContain(`silences expired: ${id}`);

    // Nothing left to turn off: the precheck says so.
    expect(await maintenance.precheck(ctx, off, await maintenance.plan(ctx, off))).toEqual({
      ok: false,
      reason:
        'the app is not in maintenance (read on app-01) and no maintenance silence of qnwis-chatops is active: nothing to turn off',
    });
  });

  it('a second "on" replaces the message and the silence; verify catches a silence expired behind its back', async () => {
    const first = await runIt(args({ mode: 'on', message: 'First window', for: '1h' }));
    const firstId = first.outcome.observations.silenceId as string;

    const second = args({ mode: 'on', message: 'Second window', for: '2h' });
    const plan = await maintenance.plan(ctx, second);
    const pre = await maintenance.precheck(ctx, second, plan);
    expect(pre.ok).toBe(true);
    expect(pre.ok && pre.detail).toMatch(
      new RegExp(
        `^the app is already in maintenance since \\S+ \\("First window"\\) \\(read on app-01\\): the message becomes "Second window" and the silence is replaced; 1 maintenance silence of qnwis-chatops active \\(${firstId}\\)$`,
      ),
    );
    const { outcome } = await runIt(second);
    const secondId = outcome.observations.silenceId as string;
    expect(secondId).not.toBe(firstId);
    expect(outcome.observations.replacedSilences).toEqual([firstId]);
    expect((await amSilence(firstId)).status.state).toBe('expired');
    expect((await amSilence(secondId)).status.state).toBe('active');
    expect(
      (await amSilences()).filter((s) => ours(s) && s.status.state !== 'expired').map((s) => s.id),
    ).toEqual([secondId]);

    // Someone expires the silence in Alertmanager's UI: verification no longer passes.
    await fetch(`${AM}/api/v2/silence/${secondId}`, { method: 'DELETE' });
    const v = await maintenance.verify(ctx, second, plan, outcome);
    expect(v.ok).toBe(false);
    expect(v.detail).toBe(`silence ${secondId} is expired, not active`);

    // off with the app in maintenance but no silence left: still allowed, and it ends maintenance.
    const off = args({ mode: 'off' });
    const offRun = await runIt(off);
    expect(offRun.outcome.observations.expiredSilences).toEqual([]);
    expect(offRun.progress.find((p) => p.stepId === 'expire-silences' && p.status === 'done')?.detail).toBe(
      'no active maintenance silence to expire',
    );
    expect(await appMaintenance()).toEqual([false, false, false]);
  });
});

describe('the PagerDuty stand-in refuses invalid change events as PagerDuty does', () => {
  it('400 with the reasons, recorded, and the port raises PagerDutyRejectedError', async () => {
    const res = await fetch(`${pd.url}/v2/change/enqueue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ routing_key: 'short', payload: { source: 'x' } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      status: 'invalid event',
      message: 'Event object is invalid',
      errors: [
        "Length of 'routing_key' is incorrect (should be 32 characters)",
        "'payload.summary' is missing or blank",
      ],
    });
    expect((await changeEvents()).at(-1)).toMatchObject({ outcome: 'invalid', http_status: 400 });

    const port = createChangeEventsClient({
      eventsUrl: pd.url,
      routingKey: 'not-a-routing-key-of-32-chars!!!',
    });
    await expect(
      port.send({ summary: 'x', source: 'qnwis-lab', timestamp: new Date().toISOString() }),
    ).rejects.toBeInstanceOf(PagerDutyRejectedError);
  });
});
