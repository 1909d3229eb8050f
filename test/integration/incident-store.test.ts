import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertmanagerWebhook, webhookSchema } from '../../src/incidents/alertmanager.js';
import { createRouter, DEFAULT_ROUTES } from '../../src/incidents/routing.js';
import { IncidentStore, type RecordContext } from '../../src/store/incidents.js';
import { createTestStore, type TestStore } from '../support/store.js';

let t: TestStore;
let store: IncidentStore;
const ctx: RecordContext = {
  router: createRouter(DEFAULT_ROUTES, 'qnwis-alerts'),
  appHosts: ['app-01', 'app-02', 'app-03'],
  heartbeatAlerts: new Set(['Watchdog']),
};

/** A real captured payload, moved to a group of its own so tests do not share incidents. */
const fixture = (name: string, group = name): AlertmanagerWebhook => ({
  ...webhookSchema.parse(JSON.parse(readFileSync(`test/fixtures/alertmanager/${name}.json`, 'utf8'))),
  groupKey: `{}:{alertname="QnwisHighErrorRatio",test="${group}"}`,
});

beforeAll(async () => {
  t = await createTestStore();
  store = new IncidentStore(t.db);
});
afterAll(async () => {
  await t.drop();
});

describe('incident store', () => {
  it('stores a grouped notification as one incident with its alerts and timeline', async () => {
    const r = await store.recordNotification(fixture('grouped'), ctx);
    expect(r.incidents).toHaveLength(1);
    expect(r.incidents[0]).toMatchObject({ opened: true, changed: true });
    const id = r.incidents[0]?.id ?? 0;
    const inc = await store.get(id);
    expect(inc).toMatchObject({
      key: `QNWIS-${id}`,
      alertname: 'QnwisHighErrorRatio',
      status: 'firing',
      channel: 'qnwis-alerts',
    });
    expect((await store.alerts(id)).map((a) => a.labels.host)).toEqual(['app-01', 'app-02']);
    expect((await store.timeline(id)).map((e) => e.kind)).toEqual(['opened', 'alert_firing', 'alert_firing']);
  });

  it('is idempotent: re-sends and concurrent HA duplicates change nothing but last_seen', async () => {
    const payload = fixture('firing', 'idempotent');
    const first = await store.recordNotification(payload, ctx);
    const before = await store.countAll();
    const again = await Promise.all(Array.from({ length: 10 }, () => store.recordNotification(payload, ctx)));
    expect(again.every((r) => r.newReceipts === 0 && r.incidents.every((i) => !i.changed))).toBe(true);
    expect(await store.countAll()).toEqual(before);
    const id = first.incidents[0]?.id ?? 0;
    expect((await store.timeline(id)).filter((e) => e.kind === 'opened')).toHaveLength(1);
  });

  it('resolves the incident when its alerts resolve, and a new firing opens a new incident', async () => {
    const firing = fixture('firing', 'lifecycle');
    const opened = await store.recordNotification(firing, ctx);
    const id = opened.incidents[0]?.id ?? 0;
    const resolved = await store.recordNotification(fixture('resolved', 'lifecycle'), ctx);
    expect(resolved.incidents[0]).toMatchObject({ id, changed: true });
    expect((await store.get(id))?.status).toBe('resolved');
    const refire = {
      ...firing,
      alerts: firing.alerts.map((a) => ({
        ...a,
        startsAt: new Date(Date.parse(a.startsAt) + 600_000).toISOString(),
      })),
    };
    const next = await store.recordNotification(refire, ctx);
    expect(next.incidents[0]?.opened).toBe(true);
    expect(next.incidents[0]?.id).not.toBe(id);
  });

  it('routes by labels and records heartbeats without an incident', async () => {
    const base = fixture('firing');
    const pg = await store.recordNotification(
      {
        ...base,
        groupKey: '{}:{alertname="DatabaseDown"}',
        commonLabels: { alertname: 'DatabaseDown', service: 'postgres' },
        alerts: base.alerts.map((a) => ({
          ...a,
          fingerprint: 'dbdown0000000001',
          labels: { alertname: 'DatabaseDown', service: 'postgres' },
        })),
      },
      ctx,
    );
    const inc = await store.get(pg.incidents[0]?.id ?? 0);
    expect(inc).toMatchObject({ channel: 'qnwis-db', severity: 'SEV-1' });

    const hb = await store.recordNotification(
      {
        ...base,
        groupKey: '{}:{alertname="Watchdog"}',
        alerts: base.alerts.map((a) => ({ ...a, labels: { alertname: 'Watchdog' } })),
      },
      ctx,
    );
    expect(hb).toMatchObject({ heartbeat: true, incidents: [] });
    expect(await store.lastHeartbeat('Watchdog')).toBeInstanceOf(Date);
  });

  it('keeps the timeline append-only', async () => {
    await expect(t.db.query('UPDATE incident_events SET kind = $1', ['tampered'])).rejects.toThrow(
      /append-only/,
    );
    await expect(t.db.query('DELETE FROM incident_events')).rejects.toThrow(/append-only/);
  });
});
