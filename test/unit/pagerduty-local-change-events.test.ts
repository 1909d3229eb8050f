/**
 * Change events in the PagerDuty stand-in (events-API-v2/03-Change-Events.md): `routing_key` and
 * `payload.summary` required, `source`/`timestamp`/`custom_details` and `links` optional, the 400
 * body of the Events API, the 202 body; and the bot's change-event body (src/ops/adapters/
 * pagerduty-change.ts) is one the stand-in accepts.
 */
import { describe, expect, it } from 'vitest';
import {
  CHANGE_EVENT_ACCEPTED,
  MAX_EVENT_BYTES,
  parseChangeEventBody,
  validateChangeEvent,
} from '../../src/dev/pagerduty/events-api.js';
import { changeEventBody } from '../../src/ops/adapters/pagerduty-change.js';

const KEY = 'qnwislabproductionroutingkey0001';

function errorsOf(body: unknown): readonly string[] {
  const r = validateChangeEvent(body);
  return r.ok ? [] : r.errors;
}

describe('validateChangeEvent', () => {
  it("accepts the documentation's example and keeps every field", () => {
    const r = validateChangeEvent({
      routing_key: KEY,
      payload: {
        summary: 'Build Success: Increase snapshot create timeout to 30 seconds',
        timestamp: '2020-07-17T08:42:58.315+0000',
        source: 'acme-build-pipeline-tool-default-i-9999',
        custom_details: { build_state: 'passed', build_number: '2', run_time: '1236s' },
      },
      links: [{ href: 'https://acme.pagerduty.dev/build/2', text: 'View more details in Acme!' }],
    });
    expect(r).toEqual({
      ok: true,
      event: {
        routing_key: KEY,
        payload: {
          summary: 'Build Success: Increase snapshot create timeout to 30 seconds',
          timestamp: '2020-07-17T08:42:58.315+0000',
          source: 'acme-build-pipeline-tool-default-i-9999',
          custom_details: { build_state: 'passed', build_number: '2', run_time: '1236s' },
        },
        links: [{ href: 'https://acme.pagerduty.dev/build/2', text: 'View more details in Acme!' }],
      },
    });
  });

  it('needs only routing_key and payload.summary (no event_action, severity or source)', () => {
    expect(validateChangeEvent({ routing_key: KEY, payload: { summary: 'Deployed v1.2' } })).toEqual({
      ok: true,
      event: { routing_key: KEY, payload: { summary: 'Deployed v1.2' }, links: [] },
    });
  });

  it('lists every problem at once', () => {
    expect(errorsOf({})).toEqual(["'routing_key' is missing or blank", "'payload' is missing or blank"]);
    expect(
      errorsOf({
        routing_key: 'short-key!',
        payload: {
          summary: 'x'.repeat(1025),
          source: 42,
          timestamp: 'yesterday',
          custom_details: 'not an object',
        },
        links: [{ text: 'no href' }, 'nope'],
      }),
    ).toEqual([
      "Length of 'routing_key' is incorrect (should be 32 characters)",
      "'routing_key' cannot contain non-alphanumeric characters.",
      "'payload.summary' is too long (maximum is 1024 characters)",
      "'payload.source' must be a string",
      "'payload.timestamp' is not a valid ISO 8601 timestamp",
      "'payload.custom_details' must be an object",
      "'links[0].href' is missing or blank",
      "'links[1]' must be an object",
    ]);
    expect(errorsOf({ routing_key: KEY, payload: { summary: '   ' } })).toEqual([
      "'payload.summary' is missing or blank",
    ]);
    expect(errorsOf([])).toEqual(['Event must be a JSON object']);
  });

  it('parses raw bodies: invalid JSON and oversized events are invalid events', () => {
    expect(parseChangeEventBody('{"routing_key":')).toEqual({
      ok: false,
      errors: ['Malformed JSON: the request body could not be parsed'],
    });
    const big = JSON.stringify({
      routing_key: KEY,
      payload: { summary: 's', custom_details: { x: 'y'.repeat(MAX_EVENT_BYTES) } },
    });
    expect(parseChangeEventBody(big)).toEqual({
      ok: false,
      errors: ['Event is too large (maximum is 512 KB)'],
    });
  });

  it('answers 202 like PagerDuty: status success, "Change event processed", no dedup_key', () => {
    expect(CHANGE_EVENT_ACCEPTED).toEqual({ status: 'success', message: 'Change event processed' });
  });
});

describe("the bot's change event", () => {
  it('is a valid change event; a long summary is cut to 1024 characters', () => {
    const body = changeEventBody(KEY, {
      summary: `Maintenance started on qnwis (lab) for 2h: ${'x'.repeat(2000)}`,
      source: 'qnwis-lab',
      timestamp: '2026-03-01T10:00:00.000Z',
      customDetails: { silence_id: 'b5d2c98d-c161-4b2d-bdc2-3c35011e05fb' },
      links: [
        {
          href: 'http://127.0.0.1:9093/#/silences/b5d2c98d-c161-4b2d-bdc2-3c35011e05fb',
          text: 'Alertmanager silence',
        },
      ],
    });
    const r = validateChangeEvent(body);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.event.payload.summary).toHaveLength(1024);
    expect(r.event.payload.summary.endsWith('…')).toBe(true);
    expect(r.event.payload.custom_details).toEqual({ silence_id: 'b5d2c98d-c161-4b2d-bdc2-3c35011e05fb' });
    expect(r.event.links).toHaveLength(1);
  });
});
