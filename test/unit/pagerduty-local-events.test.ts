/**
 * Events API v2 validation (events-API-v2/02-Trigger-Events.md): required fields per action,
 * lengths, enumerations, optional context, and PagerDuty's 400 body.
 */
import { describe, expect, it } from 'vitest';
import {
  invalidEventBody,
  MAX_EVENT_BYTES,
  parseEventBody,
  validateEvent,
} from '../../src/dev/pagerduty/events-api.js';

const KEY = 'qnwislabproductionroutingkey0001';
const trigger = (over: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) => ({
  routing_key: KEY,
  event_action: 'trigger',
  payload: { summary: 'HighErrorRate on app-01', source: 'app-01', severity: 'critical', ...payload },
  ...over,
});

function errorsOf(body: unknown): readonly string[] {
  const r = validateEvent(body);
  return r.ok ? [] : r.errors;
}

describe('validateEvent', () => {
  it('accepts a minimal trigger and keeps optional context', () => {
    const r = validateEvent(
      trigger(
        {
          dedup_key: 'alertmanager/HighErrorRate/app-01',
          links: [{ href: 'http://127.0.0.1:9093', text: 'Alertmanager' }],
          images: [{ src: 'https://example.com/graph.png' }],
          client: 'Alertmanager',
          client_url: 'http://127.0.0.1:9093',
        },
        {
          timestamp: '2025-01-12T10:00:00.000+0000',
          component: 'api',
          group: 'qnwis',
          class: 'error rate',
          custom_details: { rate: 0.12 },
        },
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.event.dedup_key).toBe('alertmanager/HighErrorRate/app-01');
    expect(r.event.payload?.severity).toBe('critical');
    expect(r.event.payload?.custom_details).toEqual({ rate: 0.12 });
    expect(r.event.links).toHaveLength(1);
    expect(r.event.images).toHaveLength(1);
    expect(r.event.client).toBe('Alertmanager');
  });

  it('accepts acknowledge and resolve with only routing_key, event_action and dedup_key', () => {
    for (const action of ['acknowledge', 'resolve']) {
      const r = validateEvent({ routing_key: KEY, event_action: action, dedup_key: 'k1' });
      expect(r.ok).toBe(true);
    }
  });

  it('reports the routing key length with PagerDuty’s wording', () => {
    expect(errorsOf(trigger({ routing_key: 'abc' }))).toEqual([
      "Length of 'routing_key' is incorrect (should be 32 characters)",
    ]);
    expect(errorsOf(trigger({ routing_key: `${'a'.repeat(31)}+` }))).toEqual([
      "'routing_key' cannot contain non-alphanumeric characters.",
    ]);
    expect(errorsOf(trigger({ routing_key: undefined }))).toEqual(["'routing_key' is missing or blank"]);
  });

  it('requires a known event_action', () => {
    expect(errorsOf(trigger({ event_action: undefined }))).toEqual(["'event_action' is missing or blank"]);
    expect(errorsOf(trigger({ event_action: 'escalate' }))).toEqual([
      "'event_action' is invalid (must be one of trigger, acknowledge, resolve)",
    ]);
  });

  it('requires summary, source and severity for a trigger and lists every missing one', () => {
    expect(errorsOf({ routing_key: KEY, event_action: 'trigger' })).toEqual([
      "'payload' is missing or blank",
    ]);
    expect(errorsOf(trigger({}, { summary: ' ', source: undefined, severity: undefined }))).toEqual([
      "'payload.summary' is missing or blank",
      "'payload.source' is missing or blank",
      "'payload.severity' is missing or blank",
    ]);
  });

  it('restricts severity to critical, error, warning, info', () => {
    for (const s of ['critical', 'error', 'warning', 'info'])
      expect(errorsOf(trigger({}, { severity: s }))).toEqual([]);
    expect(errorsOf(trigger({}, { severity: 'high' }))).toEqual([
      "'payload.severity' is invalid (must be one of critical, error, warning, info)",
    ]);
  });

  it('limits summary to 1024 and dedup_key to 255 characters', () => {
    expect(errorsOf(trigger({}, { summary: 'x'.repeat(1024) }))).toEqual([]);
    expect(errorsOf(trigger({}, { summary: 'x'.repeat(1025) }))).toEqual([
      "'payload.summary' is too long (maximum is 1024 characters)",
    ]);
    expect(errorsOf(trigger({ dedup_key: 'k'.repeat(255) }))).toEqual([]);
    expect(errorsOf(trigger({ dedup_key: 'k'.repeat(256) }))).toEqual([
      "'dedup_key' is too long (maximum is 255 characters)",
    ]);
  });

  it('requires dedup_key for acknowledge and resolve', () => {
    expect(errorsOf({ routing_key: KEY, event_action: 'resolve' })).toEqual([
      "'dedup_key' is missing or blank",
    ]);
    expect(errorsOf({ routing_key: KEY, event_action: 'acknowledge', dedup_key: '' })).toEqual([
      "'dedup_key' is missing or blank",
    ]);
  });

  it('does not require a payload for acknowledge/resolve, and ignores one', () => {
    const r = validateEvent({ routing_key: KEY, event_action: 'resolve', dedup_key: 'k', payload: { x: 1 } });
    expect(r.ok && r.event.payload).toBe(undefined);
  });

  it('checks links, images and timestamp', () => {
    expect(errorsOf(trigger({ links: [{ text: 'no href' }], images: 'nope' }))).toEqual([
      "'links[0].href' is missing or blank",
      "'images' must be an array",
    ]);
    expect(errorsOf(trigger({}, { timestamp: 'yesterday' }))).toEqual([
      "'payload.timestamp' is not a valid ISO 8601 timestamp",
    ]);
  });

  it('refuses non-objects', () => {
    expect(errorsOf([])).toEqual(['Event must be a JSON object']);
    expect(errorsOf(null)).toEqual(['Event must be a JSON object']);
  });
});

describe('parseEventBody', () => {
  it('treats malformed JSON and oversized bodies as invalid events', () => {
    const bad = parseEventBody('{"routing_key":');
    expect(bad.ok).toBe(false);
    const big = parseEventBody(JSON.stringify(trigger({}, { custom_details: 'x'.repeat(MAX_EVENT_BYTES) })));
    expect(big.ok ? [] : big.errors).toEqual(['Event is too large (maximum is 512 KB)']);
  });

  it('builds PagerDuty’s 400 body', () => {
    expect(invalidEventBody(['e1'])).toEqual({
      status: 'invalid event',
      message: 'Event object is invalid',
      errors: ['e1'],
    });
  });
});
