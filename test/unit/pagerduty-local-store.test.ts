/**
 * The stand-in's incident state machine, driven without HTTP and with a fake clock: Events API
 * de-duplication (per routing key), acknowledge/resolve, a new incident after resolve, REST actions
 * (ack, resolve, escalate, reassign, notes) and the ordered change feed the webhooks are built from.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { PagerDutyApiError } from '../../src/dev/pagerduty/errors.js';
import type { EnqueueEvent } from '../../src/dev/pagerduty/events-api.js';
import { renderWebhookEvent } from '../../src/dev/pagerduty/render.js';
import { DEFAULT_ROUTING_KEY, SEED_IDS } from '../../src/dev/pagerduty/seed.js';
import { type Actor, type IncidentChange, PagerDutyStore } from '../../src/dev/pagerduty/store.js';

const OTHER_KEY = 'otherintegrationkey0000000000002';
let clock: number;
let seq: number;
let store: PagerDutyStore;
let changes: IncidentChange[];

const trigger = (
  dedup?: string,
  routingKey = DEFAULT_ROUTING_KEY,
  summary = 'ServiceDown app-01',
): EnqueueEvent => ({
  routing_key: routingKey,
  event_action: 'trigger',
  ...(dedup === undefined ? {} : { dedup_key: dedup }),
  payload: { summary, source: 'app-01', severity: 'critical' },
  links: [],
  images: [],
});
const follow = (
  action: 'acknowledge' | 'resolve',
  dedup: string,
  routingKey = DEFAULT_ROUTING_KEY,
): EnqueueEvent => ({
  routing_key: routingKey,
  event_action: action,
  dedup_key: dedup,
  links: [],
  images: [],
});
const asUser = (userId: string): Actor => ({ kind: 'user', userId, via: 'api' });

beforeEach(() => {
  clock = Date.parse('2025-01-12T10:00:00Z');
  seq = 0;
  store = new PagerDutyStore({
    now: () => clock,
    newId: (kind) => `${kind}-${++seq}`,
    newDedupKey: () => `generated-${++seq}`,
    routingKeys: [
      { routingKey: DEFAULT_ROUTING_KEY, serviceId: SEED_IDS.service },
      { routingKey: OTHER_KEY, serviceId: SEED_IDS.service },
    ],
  });
  changes = [];
  store.onChange((c) => changes.push(c));
});

describe('Events API semantics', () => {
  it('opens an incident on the bound service, assigned to escalation level 1', () => {
    const effect = store.applyEvent(trigger('k1'));
    expect(effect).toEqual({ kind: 'incident_created', incidentId: 'incident-1', dedupKey: 'k1' });
    const i = store.incident('incident-1');
    expect(i).toMatchObject({
      number: 1,
      status: 'triggered',
      incidentKey: 'k1',
      serviceId: SEED_IDS.service,
      escalationLevel: 1,
      urgency: 'high',
    });
    expect(i?.assignments.map((a) => a.userId)).toEqual([SEED_IDS.users.oncall]);
    expect(changes.map((c) => c.type)).toEqual(['incident.triggered']);
    expect(changes[0]?.actor).toEqual({ kind: 'service', serviceId: SEED_IDS.service });
  });

  it('generates a dedup key when none is sent', () => {
    const effect = store.applyEvent(trigger());
    expect(effect.dedupKey).toMatch(/^generated-/);
    expect(store.incident('incident-2')?.incidentKey).toBe(effect.dedupKey);
  });

  it('de-duplicates a trigger for an open alert: no new incident, no webhook, the trigger is counted', () => {
    store.applyEvent(trigger('k1'));
    clock += 1000;
    const effect = store.applyEvent(trigger('k1'));
    expect(effect).toEqual({ kind: 'deduplicated', incidentId: 'incident-1', dedupKey: 'k1' });
    expect(store.allIncidents()).toHaveLength(1);
    const alert = store.incident('incident-1')?.alerts[0];
    expect(alert?.triggerCount).toBe(2);
    expect(store.incident('incident-1')?.alerts).toHaveLength(1);
    expect(changes.map((c) => c.type)).toEqual(['incident.triggered']);
  });

  it('keeps dedup state per routing key', () => {
    store.applyEvent(trigger('k1'));
    const other = store.applyEvent(trigger('k1', OTHER_KEY));
    expect(other.kind).toBe('incident_created');
    expect(store.allIncidents()).toHaveLength(2);
    // A resolve through the other key leaves the first incident alone.
    expect(store.applyEvent(follow('resolve', 'k1', OTHER_KEY)).kind).toBe('resolved');
    expect(store.allIncidents().map((i) => i.status)).toEqual(['triggered', 'resolved']);
  });

  it('acknowledges then resolves through the same routing key; a repeated ack is dropped', () => {
    store.applyEvent(trigger('k1'));
    expect(store.applyEvent(follow('acknowledge', 'k1')).kind).toBe('acknowledged');
    expect(store.applyEvent(follow('acknowledge', 'k1'))).toMatchObject({
      kind: 'dropped',
      reason: 'already_acknowledged',
    });
    expect(store.applyEvent(follow('resolve', 'k1')).kind).toBe('resolved');
    expect(store.incident('incident-1')).toMatchObject({ status: 'resolved', assignments: [] });
    expect(changes.map((c) => c.type)).toEqual([
      'incident.triggered',
      'incident.acknowledged',
      'incident.resolved',
    ]);
  });

  it('drops acknowledge/resolve for unknown dedup keys or another routing key', () => {
    store.applyEvent(trigger('k1'));
    expect(store.applyEvent(follow('resolve', 'nope'))).toMatchObject({
      kind: 'dropped',
      reason: 'no_open_alert',
    });
    expect(store.applyEvent(follow('acknowledge', 'k1', OTHER_KEY))).toMatchObject({
      kind: 'dropped',
      reason: 'no_open_alert',
    });
    expect(store.incident('incident-1')?.status).toBe('triggered');
  });

  it('opens a NEW incident for a trigger after resolve, and drops follow-ups to the resolved one', () => {
    store.applyEvent(trigger('k1'));
    store.applyEvent(follow('resolve', 'k1'));
    expect(store.applyEvent(follow('resolve', 'k1')).kind).toBe('dropped');
    const again = store.applyEvent(trigger('k1'));
    expect(again.kind).toBe('incident_created');
    expect(store.allIncidents().map((i) => [i.number, i.status, i.incidentKey])).toEqual([
      [1, 'resolved', 'k1'],
      [2, 'triggered', 'k1'],
    ]);
  });

  it('derives urgency from severity', () => {
    store.applyEvent({ ...trigger('w'), payload: { summary: 's', source: 'x', severity: 'warning' } });
    expect(store.allIncidents()[0]?.urgency).toBe('low');
  });

  it('refuses unknown routing keys unless configured to accept any', () => {
    expect(store.serviceForRoutingKey('unknownkey000000000000000000000x')).toBeUndefined();
    const lenient = new PagerDutyStore({ acceptAnyRoutingKey: true });
    expect(lenient.serviceForRoutingKey('unknownkey000000000000000000000x')?.id).toBe(SEED_IDS.service);
  });
});

describe('REST / phone actions', () => {
  beforeEach(() => {
    store.applyEvent(trigger('k1'));
    changes = [];
  });

  it('acknowledges as a user, then a second acknowledger adds an acknowledgement without a new change', () => {
    clock += 5000;
    store.acknowledge('incident-1', asUser(SEED_IDS.users.oncall));
    store.acknowledge('incident-1', asUser(SEED_IDS.users.sre));
    const i = store.incident('incident-1');
    expect(i?.status).toBe('acknowledged');
    expect(i?.acknowledgements.map((a) => (a.by.kind === 'user' ? a.by.userId : ''))).toEqual([
      SEED_IDS.users.oncall,
      SEED_IDS.users.sre,
    ]);
    expect(i?.lastStatusChangeAt).toBe(clock);
    expect(changes.map((c) => c.type)).toEqual(['incident.acknowledged']);
  });

  it('refuses to change a resolved incident with PagerDuty’s 1001', () => {
    store.resolve('incident-1', asUser(SEED_IDS.users.oncall));
    const err = (() => {
      try {
        store.acknowledge('incident-1', asUser(SEED_IDS.users.oncall));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PagerDutyApiError);
    expect((err as PagerDutyApiError).toBody().error).toMatchObject({
      code: 1001,
      message: 'Incident Already Resolved',
    });
  });

  it('escalates to a level: assigns that level and re-triggers an acknowledged incident', () => {
    store.acknowledge('incident-1', asUser(SEED_IDS.users.oncall));
    store.escalate('incident-1', 3, asUser(SEED_IDS.users.oncall));
    const i = store.incident('incident-1');
    expect(i).toMatchObject({ status: 'triggered', escalationLevel: 3 });
    expect(i?.assignments.map((a) => a.userId)).toEqual([SEED_IDS.users.devlead]);
    expect(() => store.escalate('incident-1', 5, asUser(SEED_IDS.users.oncall))).toThrow(PagerDutyApiError);
    expect(changes.map((c) => c.type)).toEqual(['incident.acknowledged', 'incident.escalated']);
  });

  it('reassigns to users (unknown users are PagerDuty’s 1007)', () => {
    store.reassign('incident-1', [SEED_IDS.users.manager], asUser(SEED_IDS.users.sre));
    expect(store.incident('incident-1')?.assignments.map((a) => a.userId)).toEqual([SEED_IDS.users.manager]);
    expect(() => store.reassign('incident-1', ['PNOBODY'], asUser(SEED_IDS.users.sre))).toThrow(
      'Assigned To User Not Found',
    );
    expect(changes.map((c) => c.type)).toEqual(['incident.reassigned']);
  });

  it('adds notes and reports them as incident.annotated with an incident_note payload', () => {
    const note = store.addNote('incident-1', SEED_IDS.users.sre, 'Restarted qnwis on app-01');
    expect(store.incident('incident-1')?.notes).toEqual([note]);
    expect(changes).toHaveLength(1);
    const change = changes[0];
    if (change === undefined) throw new Error('no change');
    expect(change).toMatchObject({ type: 'incident.annotated', noteId: note.id });
    const payload = renderWebhookEvent({ apiBase: 'http://pd' }, store, change, 'evt-1');
    expect(payload?.event).toMatchObject({
      id: 'evt-1',
      event_type: 'incident.annotated',
      resource_type: 'incident',
      agent: { id: SEED_IDS.users.sre, type: 'user_reference' },
      data: {
        type: 'incident_note',
        id: note.id,
        content: 'Restarted qnwis on app-01',
        incident: { id: 'incident-1', type: 'incident_reference' },
      },
    });
    expect(() => store.addNote('incident-1', SEED_IDS.users.sre, '  ')).toThrow(PagerDutyApiError);
  });

  it('404s unknown incidents', () => {
    expect(() => store.resolve('nope', asUser(SEED_IDS.users.oncall))).toThrow('Not Found');
  });

  it('renders incident webhooks with the compact incident object', () => {
    store.acknowledge('incident-1', { kind: 'user', userId: SEED_IDS.users.oncall, via: 'phone' });
    const change = changes[0];
    if (change === undefined) throw new Error('no change');
    const payload = renderWebhookEvent({ apiBase: 'http://pd' }, store, change, 'evt-2');
    expect(payload?.event).toMatchObject({
      event_type: 'incident.acknowledged',
      occurred_at: '2025-01-12T10:00:00.000Z',
      agent: {
        id: SEED_IDS.users.oncall,
        type: 'user_reference',
        self: `http://pd/users/${SEED_IDS.users.oncall}`,
      },
      client: { name: 'PagerDuty' },
      data: {
        id: 'incident-1',
        type: 'incident',
        number: 1,
        status: 'acknowledged',
        incident_key: 'k1',
        title: 'ServiceDown app-01',
        service: { id: SEED_IDS.service, type: 'service_reference', summary: 'QNWIS Production' },
        escalation_policy: { id: SEED_IDS.escalationPolicy, type: 'escalation_policy_reference' },
        urgency: 'high',
        priority: null,
        conference_bridge: null,
        resolve_reason: null,
      },
    });
    expect(Object.keys(payload?.event.data as object).sort()).toEqual(
      [
        'id',
        'type',
        'self',
        'html_url',
        'number',
        'status',
        'incident_key',
        'created_at',
        'title',
        'service',
        'assignees',
        'escalation_policy',
        'teams',
        'priority',
        'urgency',
        'conference_bridge',
        'resolve_reason',
      ].sort(),
    );
  });

  it('reset returns to the seed and numbering restarts', () => {
    store.recordEvent({ http_status: 202, outcome: 'accepted', body: {} });
    store.reset();
    expect(store.allIncidents()).toEqual([]);
    expect(store.events()).toEqual([]);
    store.applyEvent(trigger('k1'));
    expect(store.allIncidents()[0]?.number).toBe(1);
  });
});
