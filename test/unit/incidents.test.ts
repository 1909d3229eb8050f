import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type AlertmanagerAlert, webhookSchema } from '../../src/incidents/alertmanager.js';
import { affectedHosts, applyNotification, type IncidentState } from '../../src/incidents/incident.js';
import { createRouter, DEFAULT_ROUTES } from '../../src/incidents/routing.js';
import { parseSevLabel, severityOf } from '../../src/incidents/severity.js';

const APP_HOSTS = ['app-01', 'app-02', 'app-03'];
const T0 = '2026-11-27T21:00:00.000Z';
const T1 = '2026-11-27T21:05:00.000Z';

function alert(
  name: string,
  opts: {
    host?: string;
    status?: 'firing' | 'resolved';
    startsAt?: string;
    labels?: Record<string, string>;
    value?: string;
  } = {},
): AlertmanagerAlert {
  const labels = { alertname: name, ...(opts.host ? { host: opts.host } : {}), ...opts.labels };
  return {
    status: opts.status ?? 'firing',
    labels,
    annotations: {
      summary: `${name} on ${opts.host ?? 'fleet'}`,
      ...(opts.value ? { value: opts.value } : {}),
    },
    startsAt: opts.startsAt ?? T0,
    endsAt: opts.status === 'resolved' ? T1 : '0001-01-01T00:00:00Z',
    generatorURL: 'http://127.0.0.1:9090/graph?g0.expr=up',
    fingerprint: `${name}-${opts.host ?? 'x'}`
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(0, 16),
  };
}

const sev = (name: string, alerts: AlertmanagerAlert[]) =>
  severityOf({ alertname: name, alerts, appHosts: APP_HOSTS });

describe('severity per the runbook', () => {
  it('ServiceDown on every app host is SEV-1, on one host SEV-3', () => {
    expect(
      sev(
        'ServiceDown',
        APP_HOSTS.map((h) => alert('ServiceDown', { host: h })),
      ),
    ).toBe('SEV-1');
    expect(sev('ServiceDown', [alert('ServiceDown', { host: 'app-02' })])).toBe('SEV-3');
    // Two of three down, the third resolved: not a complete outage.
    expect(
      sev('ServiceDown', [
        alert('ServiceDown', { host: 'app-01' }),
        alert('ServiceDown', { host: 'app-02' }),
        alert('ServiceDown', { host: 'app-03', status: 'resolved' }),
      ]),
    ).toBe('SEV-3');
  });

  it('maps the runbook alerts', () => {
    expect(sev('DatabaseDown', [alert('DatabaseDown')])).toBe('SEV-1');
    expect(sev('HighErrorRate', [alert('HighErrorRate')])).toBe('SEV-2');
    expect(sev('QueryLatencyHigh', [alert('QueryLatencyHigh')])).toBe('SEV-3');
    expect(sev('HighMemoryUsage', [alert('HighMemoryUsage')])).toBe('SEV-3');
  });

  it('LowCacheHitRate is SEV-3, SEV-4 while the hit rate is still at least 0.5', () => {
    expect(sev('LowCacheHitRate', [alert('LowCacheHitRate', { value: '0.12' })])).toBe('SEV-3');
    expect(sev('LowCacheHitRate', [alert('LowCacheHitRate', { value: '0.55' })])).toBe('SEV-4');
    expect(sev('LowCacheHitRate', [alert('LowCacheHitRate')])).toBe('SEV-3');
  });

  it('unknown alerts follow their severity label', () => {
    expect(sev('DiskFull', [alert('DiskFull', { labels: { severity: 'critical' } })])).toBe('SEV-2');
    expect(sev('DiskFull', [alert('DiskFull', { labels: { severity: 'warning' } })])).toBe('SEV-3');
    expect(sev('DiskFull', [alert('DiskFull', { labels: { severity: 'info' } })])).toBe('SEV-4');
    expect(sev('DiskFull', [alert('DiskFull')])).toBe('SEV-4');
  });

  it('a sev label overrides everything', () => {
    expect(sev('DatabaseDown', [alert('DatabaseDown', { labels: { sev: 'SEV-3' } })])).toBe('SEV-3');
    expect(sev('Custom', [alert('Custom', { labels: { sev: '1' } })])).toBe('SEV-1');
    expect(parseSevLabel('sev2')).toBe('SEV-2');
    expect(parseSevLabel('high')).toBeUndefined();
  });
});

describe('routing', () => {
  const router = createRouter(
    [...DEFAULT_ROUTES, { match: ['alertname=~"High.*"', 'host!=app-03'], channel: '#qnwis-ops' }],
    '#qnwis-alerts',
  );
  it('routes by label matchers, first match wins, default otherwise', () => {
    expect(router.channelFor({ alertname: 'DatabaseDown', service: 'postgres' })).toBe('qnwis-db');
    expect(router.channelFor({ alertname: 'HighErrorRate', host: 'app-01' })).toBe('qnwis-ops');
    expect(router.channelFor({ alertname: 'HighErrorRate', host: 'app-03' })).toBe('qnwis-alerts');
    expect(router.channelFor({ alertname: 'ServiceDown' })).toBe('qnwis-alerts');
  });
});

describe('incident transitions', () => {
  const ctx = { appHosts: APP_HOSTS };

  it('opens an incident on the first firing alert', () => {
    const t = applyNotification(undefined, 'ServiceDown', [alert('ServiceDown', { host: 'app-02' })], ctx);
    expect(t?.next.status).toBe('firing');
    expect(t?.next.severity).toBe('SEV-3');
    expect(t?.events.map((e) => e.kind)).toEqual(['opened', 'alert_firing']);
  });

  it('does not open an incident for a resolved alert it never saw firing', () => {
    expect(applyNotification(undefined, 'X', [alert('X', { status: 'resolved' })], ctx)).toBeNull();
  });

  it('re-delivery of the same notification changes nothing', () => {
    const first = applyNotification(
      undefined,
      'HighErrorRate',
      [alert('HighErrorRate', { host: 'app-01' })],
      ctx,
    );
    if (!first) throw new Error('expected an incident');
    const again = applyNotification(
      first.next,
      'HighErrorRate',
      [alert('HighErrorRate', { host: 'app-01' })],
      ctx,
    );
    expect(again?.events).toEqual([]);
    expect(again?.changed).toBe(false);
  });

  it('escalates severity as more app hosts go down, and resolves when all recover', () => {
    let state: IncidentState | undefined;
    const step = (alerts: AlertmanagerAlert[]) => {
      const t = applyNotification(state, 'ServiceDown', alerts, ctx);
      if (!t) throw new Error('expected a transition');
      state = t.next;
      return t;
    };
    step([alert('ServiceDown', { host: 'app-01' })]);
    const all = step(APP_HOSTS.map((h) => alert('ServiceDown', { host: h })));
    expect(all.next.severity).toBe('SEV-1');
    expect(all.events).toContainEqual({ kind: 'severity_changed', from: 'SEV-3', to: 'SEV-1' });
    const done = step(APP_HOSTS.map((h) => alert('ServiceDown', { host: h, status: 'resolved' })));
    expect(done.next.status).toBe('resolved');
    expect(done.events.filter((e) => e.kind === 'alert_resolved')).toHaveLength(3);
    expect(done.events.at(-1)).toEqual({ kind: 'resolved' });
    // The incident keeps the worst severity it reached.
    expect(done.next.severity).toBe('SEV-1');
  });

  it('a late "firing" never undoes a resolution of the same occurrence', () => {
    const open = applyNotification(undefined, 'X', [alert('X', { host: 'app-01' })], ctx);
    if (!open) throw new Error('expected an incident');
    const resolved = applyNotification(
      open.next,
      'X',
      [alert('X', { host: 'app-01', status: 'resolved' })],
      ctx,
    );
    if (!resolved) throw new Error('expected a transition');
    const late = applyNotification(resolved.next, 'X', [alert('X', { host: 'app-01' })], ctx);
    expect(late?.next.status).toBe('resolved');
    expect(late?.events).toEqual([]);
  });

  it('matches an occurrence by instant, whatever the timestamp spelling (Go vs JavaScript)', () => {
    const open = applyNotification(
      undefined,
      'X',
      [alert('X', { host: 'app-01', startsAt: '2026-11-27T21:00:00.120Z' })],
      ctx,
    );
    if (!open) throw new Error('expected an incident');
    // Alertmanager sends the same instant as Go formats it: trailing zeros trimmed.
    const resolved = applyNotification(
      open.next,
      'X',
      [alert('X', { host: 'app-01', status: 'resolved', startsAt: '2026-11-27T21:00:00.12Z' })],
      ctx,
    );
    expect(resolved?.next.status).toBe('resolved');
    const nano = applyNotification(
      open.next,
      'X',
      [alert('X', { host: 'app-01', status: 'resolved', startsAt: '2026-11-27T21:00:00.120000000Z' })],
      ctx,
    );
    expect(nano?.next.status).toBe('resolved');
  });

  it('keeps acknowledged while alerts keep firing', () => {
    const open = applyNotification(undefined, 'X', [alert('X', { host: 'app-01' })], ctx);
    if (!open) throw new Error('expected an incident');
    const acked: IncidentState = { ...open.next, status: 'acknowledged' };
    const more = applyNotification(acked, 'X', [alert('X', { host: 'app-02' })], ctx);
    expect(more?.next.status).toBe('acknowledged');
    expect(affectedHosts(more?.next ?? acked)).toEqual({ firing: ['app-01', 'app-02'], resolved: [] });
  });

  it('reads each alert’s own status in a real grouped payload', () => {
    const payload = webhookSchema.parse(
      JSON.parse(readFileSync('test/fixtures/alertmanager/grouped.json', 'utf8')),
    );
    const t = applyNotification(undefined, 'QnwisHighErrorRatio', payload.alerts, ctx);
    expect(t?.events.filter((e) => e.kind === 'alert_firing')).toHaveLength(2);
    expect(t?.next.severity).toBe('SEV-3');
  });
});
