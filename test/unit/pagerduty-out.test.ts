import { describe, expect, it } from 'vitest';
import { bearerMatches } from '../../src/handlers/alertmanager.js';
import { signPagerDuty, verifyPagerDutySignature } from '../../src/handlers/pagerduty-signature.js';
import { eventFor, pagerDutySeverity, pages } from '../../src/jobs/pagerduty-events.js';
import type { IncidentRow } from '../../src/store/incidents.js';

const row = (over: Partial<IncidentRow> = {}): IncidentRow => ({
  id: 7,
  key: 'QNWIS-7',
  groupKey: '{}:{alertname="DatabaseDown"}',
  alertname: 'DatabaseDown',
  severity: 'SEV-1',
  status: 'firing',
  channel: 'qnwis-db',
  commonLabels: { alertname: 'DatabaseDown', service: 'postgres', host: 'app-01' },
  externalUrl: 'http://127.0.0.1:9093',
  slackChannelId: 'C1',
  slackTs: '1.2',
  slackPermalink: 'http://slack.local/archives/C1/p12',
  slackRenderedHash: null,
  digestId: null,
  threadCursor: 0,
  pdDedupKey: null,
  pdStatus: null,
  pdIncidentId: null,
  pdHtmlUrl: null,
  acknowledgedBy: null,
  acknowledgedAt: null,
  diagnosisVerdict: null,
  diagnosedAt: null,
  proposedActions: [],
  commandsDone: [],
  mitigatedAt: null,
  snoozedUntil: null,
  postmortemUrl: null,
  postmortemLinkedAt: null,
  resolveNote: null,
  openedAt: new Date('2026-11-27T21:00:00Z'),
  resolvedAt: null,
  createdAt: new Date('2026-11-27T21:00:01Z'),
  updatedAt: new Date('2026-11-27T21:00:01Z'),
  ...over,
});

describe('PagerDuty Events API v2 out', () => {
  it('pages SEV-1 and SEV-2 only, with PagerDuty severities', () => {
    expect(['SEV-1', 'SEV-2', 'SEV-3', 'SEV-4'].map((s) => pages(s as IncidentRow['severity']))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(pagerDutySeverity('SEV-1')).toBe('critical');
    expect(pagerDutySeverity('SEV-2')).toBe('error');
  });

  it('triggers with the incident key as dedup_key and links back to Slack and the graph', () => {
    const e = eventFor(row(), 'k'.repeat(32), 'db-primary is down', 'http://prom/graph');
    expect(e).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'QNWIS-7',
      payload: { severity: 'critical', source: 'app-01' },
    });
    expect(e.payload?.summary).toBe('[SEV-1] DatabaseDown: db-primary is down');
    expect(e.links).toEqual([
      { href: 'http://slack.local/archives/C1/p12', text: 'Slack: QNWIS-7' },
      { href: 'http://prom/graph', text: 'Prometheus graph' },
    ]);
  });

  it('resolves by dedup_key only', () => {
    expect(eventFor(row({ status: 'resolved' }), 'k'.repeat(32), '', null)).toEqual({
      routing_key: 'k'.repeat(32),
      event_action: 'resolve',
      dedup_key: 'QNWIS-7',
    });
  });

  it('keeps the summary within PagerDuty’s 1024 characters', () => {
    expect(eventFor(row(), 'k'.repeat(32), 'x'.repeat(5000), null).payload?.summary.length).toBe(1024);
  });
});

describe('webhook authentication', () => {
  it('accepts exactly the configured Alertmanager bearer token', () => {
    expect(bearerMatches('Bearer s3cret-token-123456', 's3cret-token-123456')).toBe(true);
    expect(bearerMatches('Bearer s3cret-token-12345', 's3cret-token-123456')).toBe(false);
    expect(bearerMatches('bearer s3cret-token-123456', 's3cret-token-123456')).toBe(false);
    expect(bearerMatches(undefined, 's3cret-token-123456')).toBe(false);
  });

  it('verifies PagerDuty v1 signatures, any of a rotation list, never a tampered body', () => {
    const body = Buffer.from('{"event":{"id":"1"}}');
    const sig = signPagerDuty(body, 'secret-a');
    expect(verifyPagerDutySignature(body, sig, ['secret-a'])).toBe(true);
    expect(verifyPagerDutySignature(body, `v1=deadbeef,${sig}`, ['secret-a'])).toBe(true);
    expect(verifyPagerDutySignature(body, sig, ['secret-b', 'secret-a'])).toBe(true);
    expect(verifyPagerDutySignature(Buffer.from('{"event":{"id":"2"}}'), sig, ['secret-a'])).toBe(false);
    expect(verifyPagerDutySignature(body, sig.replace('v1=', 'v0='), ['secret-a'])).toBe(false);
    expect(verifyPagerDutySignature(body, undefined, ['secret-a'])).toBe(false);
  });
});
