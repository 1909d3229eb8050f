/**
 * The stand-in's account state, in memory: seed (users, escalation policy, service), incidents with
 * their alert, notes, the log of every Events API request, and the change events (which only
 * record, never alert: `/v2/change/enqueue`). It implements PagerDuty's incident
 * state machine and nothing about HTTP; the clock and id generation are injected so unit tests can
 * drive it without a network.
 *
 * Events API semantics (events-API-v2/02-Trigger-Events.md, "Alert De-Duplication"):
 * - a `trigger` whose (routing key, dedup key) has no open alert opens a new alert and incident on
 *   the service bound to the routing key, assigned to escalation level 1;
 * - a `trigger` for an open alert is de-duplicated: it is logged against that alert (its
 *   `trigger_count` grows), no new alert or incident is created, and `alert_counts` do not change;
 * - `acknowledge`/`resolve` apply only to an open alert with the same routing key; anything else is
 *   accepted and dropped;
 * - after `resolve`, a `trigger` with the same dedup key opens a new incident.
 *
 * REST semantics: acknowledge/resolve as a user (From), escalate to a level (reassigns to that
 * level's on-call users and re-triggers), reassign to users (re-triggers), notes. Every change is
 * reported through `onChange` (the webhook dispatcher listens), in the order it happened.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { pdErrors } from './errors.js';
import type { EnqueueEvent, EventImage, EventLink, EventPayload, Severity } from './events-api.js';
import {
  DEFAULT_ROUTING_KEY,
  SEED,
  type Seed,
  type SeedEscalationPolicy,
  type SeedService,
  type SeedUser,
} from './seed.js';

export type IncidentStatus = 'triggered' | 'acknowledged' | 'resolved';
export const INCIDENT_STATUSES: readonly IncidentStatus[] = ['triggered', 'acknowledged', 'resolved'];

/** Who made a change: a user (REST with From, or "from their phone") or a service (Events API). */
export type Actor =
  | { readonly kind: 'user'; readonly userId: string; readonly via: 'api' | 'phone' | 'web' }
  | {
      readonly kind: 'service';
      readonly serviceId: string;
      readonly client?: { readonly name: string; readonly url?: string };
    };

export interface Alert {
  readonly id: string;
  readonly dedupKey: string;
  readonly routingKey: string;
  status: IncidentStatus;
  readonly createdAt: number;
  resolvedAt: number | null;
  /** Trigger events applied to this alert (1 + de-duplicated triggers). */
  triggerCount: number;
  lastTriggerAt: number;
  readonly payload: EventPayload;
  readonly links: readonly EventLink[];
  readonly images: readonly EventImage[];
}

export interface Note {
  readonly id: string;
  readonly userId: string;
  readonly content: string;
  readonly createdAt: number;
}

export interface Incident {
  readonly id: string;
  readonly number: number;
  readonly title: string;
  status: IncidentStatus;
  /** The dedup key of the alert that opened it (PagerDuty's `incident_key`). */
  readonly incidentKey: string;
  readonly routingKey: string;
  readonly serviceId: string;
  readonly escalationPolicyId: string;
  escalationLevel: number;
  readonly urgency: 'high' | 'low';
  readonly severity: Severity;
  readonly createdAt: number;
  updatedAt: number;
  lastStatusChangeAt: number;
  lastStatusChangeBy: Actor;
  resolvedAt: number | null;
  assignments: { at: number; userId: string }[];
  acknowledgements: { at: number; by: Actor }[];
  readonly alerts: Alert[];
  readonly notes: Note[];
}

export type IncidentEventType =
  | 'incident.triggered'
  | 'incident.acknowledged'
  | 'incident.resolved'
  | 'incident.escalated'
  | 'incident.reassigned'
  | 'incident.annotated';

export interface IncidentChange {
  readonly type: IncidentEventType;
  readonly incidentId: string;
  readonly actor: Actor;
  readonly occurredAt: number;
  /** For `incident.annotated`. */
  readonly noteId?: string;
}

export type EventEffect =
  | { readonly kind: 'incident_created'; readonly incidentId: string; readonly dedupKey: string }
  | { readonly kind: 'deduplicated'; readonly incidentId: string; readonly dedupKey: string }
  | { readonly kind: 'acknowledged'; readonly incidentId: string; readonly dedupKey: string }
  | { readonly kind: 'resolved'; readonly incidentId: string; readonly dedupKey: string }
  | {
      readonly kind: 'dropped';
      readonly dedupKey: string;
      readonly reason: 'no_open_alert' | 'already_acknowledged';
      readonly incidentId?: string;
    };

/** One Events API request as received, accepted or not (GET /_local/events). */
export interface EventRecord {
  readonly seq: number;
  readonly received_at: string;
  readonly http_status: number;
  readonly outcome: 'accepted' | 'invalid' | 'rate_limited';
  readonly routing_key?: string;
  readonly event_action?: string;
  readonly dedup_key?: string;
  readonly errors?: readonly string[];
  readonly effect?: EventEffect['kind'];
  readonly reason?: string;
  readonly incident_id?: string;
  /** The parsed body, or the raw text when it was not JSON. */
  readonly body: unknown;
}

/** One change-event request as received, accepted or not (GET /_local/change-events). */
export interface ChangeEventRecord {
  readonly seq: number;
  readonly received_at: string;
  readonly http_status: number;
  readonly outcome: 'accepted' | 'invalid' | 'rate_limited';
  readonly routing_key?: string;
  /** The service the routing key routes to, for accepted events. */
  readonly service_id?: string;
  readonly errors?: readonly string[];
  /** The parsed body, or the raw text when it was not JSON. */
  readonly body: unknown;
}

export interface RoutingKeyBinding {
  readonly routingKey: string;
  readonly serviceId: string;
}

export interface StoreOptions {
  readonly seed?: Seed;
  /** Integration keys and the service each routes to. Default: DEFAULT_ROUTING_KEY → the first service. */
  readonly routingKeys?: readonly RoutingKeyBinding[];
  /**
   * Accept any well-formed routing key, routing it to the first service (dedup state stays per key,
   * as in PagerDuty). When false, an unknown key is refused with 400 "Invalid routing key".
   */
  readonly acceptAnyRoutingKey?: boolean;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  /** Id generator; `kind` is the resource. Default: PagerDuty-like random ids. */
  readonly newId?: (kind: 'incident' | 'alert' | 'note') => string;
  /** Dedup key for a trigger sent without one. Default: 32 hex characters (a UUID without dashes). */
  readonly newDedupKey?: () => string;
  /** Most Events API records kept (oldest dropped first). */
  readonly maxEventRecords?: number;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomPagerDutyId(prefix: string, length: number): string {
  let out = prefix;
  for (let i = 0; i < length; i++) out += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return out;
}

export function defaultNewId(kind: 'incident' | 'alert' | 'note'): string {
  // Current PagerDuty incident ids are 14 characters starting with Q; older resources are P + 6.
  return kind === 'incident' ? randomPagerDutyId('Q', 13) : randomPagerDutyId('P', 6);
}

export type StoreListener = (change: IncidentChange) => void;

export class PagerDutyStore {
  readonly seed: Seed;
  private readonly now: () => number;
  private readonly newId: (kind: 'incident' | 'alert' | 'note') => string;
  private readonly newDedupKey: () => string;
  private readonly bindings: Map<string, string>;
  private readonly acceptAnyRoutingKey: boolean;
  private readonly maxEventRecords: number;
  private readonly listeners: StoreListener[] = [];

  private incidents = new Map<string, Incident>();
  /** `${routingKey}\n${dedupKey}` → incident id, for open (unresolved) alerts only. */
  private openAlerts = new Map<string, string>();
  private nextNumber = 1;
  private eventRecords: EventRecord[] = [];
  private nextEventSeq = 1;
  private changeEventRecords: ChangeEventRecord[] = [];
  private nextChangeEventSeq = 1;

  constructor(opts: StoreOptions = {}) {
    this.seed = opts.seed ?? SEED;
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? defaultNewId;
    this.newDedupKey = opts.newDedupKey ?? (() => randomUUID().replaceAll('-', ''));
    const firstService = this.seed.services[0];
    if (firstService === undefined) throw new Error('the seed needs at least one service');
    const bindings = opts.routingKeys ?? [{ routingKey: DEFAULT_ROUTING_KEY, serviceId: firstService.id }];
    this.bindings = new Map(bindings.map((b) => [b.routingKey, b.serviceId]));
    for (const b of bindings) {
      if (this.service(b.serviceId) === undefined)
        throw new Error(`routing key bound to unknown service ${b.serviceId}`);
    }
    this.acceptAnyRoutingKey = opts.acceptAnyRoutingKey ?? false;
    this.maxEventRecords = opts.maxEventRecords ?? 10_000;
  }

  onChange(listener: StoreListener): void {
    this.listeners.push(listener);
  }

  /** Back to the seed: no incidents, no event or change-event records, numbering from 1. */
  reset(): void {
    this.incidents = new Map();
    this.openAlerts = new Map();
    this.nextNumber = 1;
    this.eventRecords = [];
    this.nextEventSeq = 1;
    this.changeEventRecords = [];
    this.nextChangeEventSeq = 1;
  }

  // ---- lookups -------------------------------------------------------------------------------

  users(): readonly SeedUser[] {
    return this.seed.users;
  }

  user(id: string): SeedUser | undefined {
    return this.seed.users.find((u) => u.id === id);
  }

  userByEmail(email: string): SeedUser | undefined {
    const e = email.trim().toLowerCase();
    return this.seed.users.find((u) => u.email.toLowerCase() === e);
  }

  /** A user by id or e-mail address. */
  findUser(idOrEmail: string): SeedUser | undefined {
    return this.user(idOrEmail) ?? this.userByEmail(idOrEmail);
  }

  services(): readonly SeedService[] {
    return this.seed.services;
  }

  service(id: string): SeedService | undefined {
    return this.seed.services.find((s) => s.id === id);
  }

  escalationPolicies(): readonly SeedEscalationPolicy[] {
    return this.seed.escalationPolicies;
  }

  escalationPolicy(id: string): SeedEscalationPolicy | undefined {
    return this.seed.escalationPolicies.find((p) => p.id === id);
  }

  routingKeysOf(serviceId: string): string[] {
    return [...this.bindings].filter(([, s]) => s === serviceId).map(([k]) => k);
  }

  /** The service a routing key routes to, or undefined when the key is unknown (and not accepted). */
  serviceForRoutingKey(routingKey: string): SeedService | undefined {
    const bound = this.bindings.get(routingKey);
    if (bound !== undefined) return this.service(bound);
    return this.acceptAnyRoutingKey ? this.seed.services[0] : undefined;
  }

  incident(id: string): Incident | undefined {
    return this.incidents.get(id);
  }

  /** All incidents, oldest first. */
  allIncidents(): Incident[] {
    return [...this.incidents.values()].sort((a, b) => a.number - b.number);
  }

  events(): readonly EventRecord[] {
    return this.eventRecords;
  }

  recordEvent(record: Omit<EventRecord, 'seq' | 'received_at'>): EventRecord {
    const full: EventRecord = {
      seq: this.nextEventSeq++,
      received_at: new Date(this.now()).toISOString(),
      ...record,
    };
    this.eventRecords.push(full);
    if (this.eventRecords.length > this.maxEventRecords) this.eventRecords.shift();
    return full;
  }

  changeEvents(): readonly ChangeEventRecord[] {
    return this.changeEventRecords;
  }

  recordChangeEvent(record: Omit<ChangeEventRecord, 'seq' | 'received_at'>): ChangeEventRecord {
    const full: ChangeEventRecord = {
      seq: this.nextChangeEventSeq++,
      received_at: new Date(this.now()).toISOString(),
      ...record,
    };
    this.changeEventRecords.push(full);
    if (this.changeEventRecords.length > this.maxEventRecords) this.changeEventRecords.shift();
    return full;
  }

  // ---- Events API ----------------------------------------------------------------------------

  /**
   * Applies a validated event whose routing key is known (see `serviceForRoutingKey`). Returns the
   * dedup key to answer with and what happened.
   */
  applyEvent(event: EnqueueEvent): EventEffect {
    const service = this.serviceForRoutingKey(event.routing_key);
    if (service === undefined) throw new Error('applyEvent with an unknown routing key');
    const actor: Actor = {
      kind: 'service',
      serviceId: service.id,
      ...(event.client === undefined
        ? {}
        : {
            client: {
              name: event.client,
              ...(event.client_url === undefined ? {} : { url: event.client_url }),
            },
          }),
    };
    const dedupKey = event.dedup_key ?? this.newDedupKey();
    const alertKey = `${event.routing_key}\n${dedupKey}`;
    const openId = this.openAlerts.get(alertKey);
    const open = openId === undefined ? undefined : this.incidents.get(openId);
    const t = this.now();

    switch (event.event_action) {
      case 'trigger': {
        const payload = event.payload;
        if (payload === undefined) throw new Error('trigger without payload');
        if (open !== undefined) {
          const alert = open.alerts.find(
            (a) => a.dedupKey === dedupKey && a.routingKey === event.routing_key,
          );
          if (alert !== undefined) {
            alert.triggerCount += 1;
            alert.lastTriggerAt = t;
          }
          open.updatedAt = t;
          return { kind: 'deduplicated', incidentId: open.id, dedupKey };
        }
        const incident = this.openIncident(service, event.routing_key, dedupKey, payload, event, actor, t);
        this.openAlerts.set(alertKey, incident.id);
        this.emit({ type: 'incident.triggered', incidentId: incident.id, actor, occurredAt: t });
        return { kind: 'incident_created', incidentId: incident.id, dedupKey };
      }
      case 'acknowledge': {
        if (open === undefined) return { kind: 'dropped', dedupKey, reason: 'no_open_alert' };
        if (open.status === 'acknowledged') {
          return { kind: 'dropped', dedupKey, reason: 'already_acknowledged', incidentId: open.id };
        }
        this.setAcknowledged(open, actor, t);
        return { kind: 'acknowledged', incidentId: open.id, dedupKey };
      }
      case 'resolve': {
        if (open === undefined) return { kind: 'dropped', dedupKey, reason: 'no_open_alert' };
        this.setResolved(open, actor, t);
        return { kind: 'resolved', incidentId: open.id, dedupKey };
      }
    }
  }

  private openIncident(
    service: SeedService,
    routingKey: string,
    dedupKey: string,
    payload: EventPayload,
    event: EnqueueEvent,
    actor: Actor,
    t: number,
  ): Incident {
    const policy = this.escalationPolicy(service.escalationPolicyId);
    const firstRule = policy?.rules[0];
    const incident: Incident = {
      id: this.newId('incident'),
      number: this.nextNumber++,
      title: payload.summary,
      status: 'triggered',
      incidentKey: dedupKey,
      routingKey,
      serviceId: service.id,
      escalationPolicyId: service.escalationPolicyId,
      escalationLevel: 1,
      // PagerDuty's "urgency based on alert severity": critical/error → high, warning/info → low.
      urgency: payload.severity === 'critical' || payload.severity === 'error' ? 'high' : 'low',
      severity: payload.severity,
      createdAt: t,
      updatedAt: t,
      lastStatusChangeAt: t,
      lastStatusChangeBy: actor,
      resolvedAt: null,
      assignments: (firstRule?.userIds ?? []).map((userId) => ({ at: t, userId })),
      acknowledgements: [],
      alerts: [
        {
          id: this.newId('alert'),
          dedupKey,
          routingKey,
          status: 'triggered',
          createdAt: t,
          resolvedAt: null,
          triggerCount: 1,
          lastTriggerAt: t,
          payload,
          links: event.links,
          images: event.images,
        },
      ],
      notes: [],
    };
    this.incidents.set(incident.id, incident);
    return incident;
  }

  // ---- REST / phone actions ------------------------------------------------------------------

  private require(id: string): Incident {
    const incident = this.incidents.get(id);
    if (incident === undefined) throw pdErrors.notFound();
    return incident;
  }

  /** Acknowledge as `actor`. An already acknowledged incident records another acknowledger, without a new webhook. */
  acknowledge(incidentId: string, actor: Actor): Incident {
    const incident = this.require(incidentId);
    if (incident.status === 'resolved') throw pdErrors.alreadyResolved();
    const t = this.now();
    if (incident.status === 'acknowledged') {
      incident.acknowledgements.push({ at: t, by: actor });
      incident.updatedAt = t;
      return incident;
    }
    this.setAcknowledged(incident, actor, t);
    return incident;
  }

  resolve(incidentId: string, actor: Actor): Incident {
    const incident = this.require(incidentId);
    if (incident.status === 'resolved') throw pdErrors.alreadyResolved();
    this.setResolved(incident, actor, this.now());
    return incident;
  }

  /**
   * Escalate (or de-escalate) to `level` (1-based) of the incident's escalation policy: assigns the
   * level's users and puts the incident back to triggered, as a manual escalation does in PagerDuty.
   */
  escalate(incidentId: string, level: number, actor: Actor): Incident {
    const incident = this.require(incidentId);
    if (incident.status === 'resolved') throw pdErrors.alreadyResolved();
    const policy = this.escalationPolicy(incident.escalationPolicyId);
    const rules = policy?.rules ?? [];
    if (!Number.isInteger(level) || level < 1 || level > rules.length) {
      throw pdErrors.cannotEscalate(`Escalation level must be between 1 and ${rules.length}`);
    }
    const rule = rules[level - 1];
    const t = this.now();
    incident.escalationLevel = level;
    incident.assignments = (rule?.userIds ?? []).map((userId) => ({ at: t, userId }));
    this.retrigger(incident, actor, t);
    this.emit({ type: 'incident.escalated', incidentId: incident.id, actor, occurredAt: t });
    return incident;
  }

  /** Reassign to `userIds` (direct assignment); the incident returns to triggered, as in PagerDuty. */
  reassign(incidentId: string, userIds: readonly string[], actor: Actor): Incident {
    const incident = this.require(incidentId);
    if (incident.status === 'resolved') throw pdErrors.alreadyResolved();
    if (userIds.length === 0) throw pdErrors.invalidInput('Assignments must not be empty');
    for (const id of userIds) if (this.user(id) === undefined) throw pdErrors.assigneeNotFound();
    const t = this.now();
    incident.assignments = [...new Set(userIds)].map((userId) => ({ at: t, userId }));
    this.retrigger(incident, actor, t);
    this.emit({ type: 'incident.reassigned', incidentId: incident.id, actor, occurredAt: t });
    return incident;
  }

  addNote(incidentId: string, userId: string, content: string, via: 'api' | 'phone' | 'web' = 'api'): Note {
    const incident = this.require(incidentId);
    if (content.trim().length === 0) throw pdErrors.invalidInput('Note content cannot be empty');
    const t = this.now();
    const note: Note = { id: this.newId('note'), userId, content, createdAt: t };
    incident.notes.push(note);
    incident.updatedAt = t;
    this.emit({
      type: 'incident.annotated',
      incidentId: incident.id,
      actor: { kind: 'user', userId, via },
      occurredAt: t,
      noteId: note.id,
    });
    return note;
  }

  // ---- transitions ---------------------------------------------------------------------------

  private setAcknowledged(incident: Incident, actor: Actor, t: number): void {
    incident.status = 'acknowledged';
    incident.acknowledgements.push({ at: t, by: actor });
    incident.lastStatusChangeAt = t;
    incident.lastStatusChangeBy = actor;
    incident.updatedAt = t;
    for (const a of incident.alerts) if (a.status === 'triggered') a.status = 'acknowledged';
    this.emit({ type: 'incident.acknowledged', incidentId: incident.id, actor, occurredAt: t });
  }

  private setResolved(incident: Incident, actor: Actor, t: number): void {
    incident.status = 'resolved';
    incident.resolvedAt = t;
    incident.lastStatusChangeAt = t;
    incident.lastStatusChangeBy = actor;
    incident.updatedAt = t;
    // "This list will be empty if the Incident.status is resolved."
    incident.assignments = [];
    incident.acknowledgements = [];
    for (const a of incident.alerts) {
      if (a.status !== 'resolved') {
        a.status = 'resolved';
        a.resolvedAt = t;
      }
      this.openAlerts.delete(`${a.routingKey}\n${a.dedupKey}`);
    }
    this.emit({ type: 'incident.resolved', incidentId: incident.id, actor, occurredAt: t });
  }

  private retrigger(incident: Incident, actor: Actor, t: number): void {
    if (incident.status !== 'triggered') {
      incident.status = 'triggered';
      incident.lastStatusChangeAt = t;
      incident.lastStatusChangeBy = actor;
      incident.acknowledgements = [];
      for (const a of incident.alerts) if (a.status === 'acknowledged') a.status = 'triggered';
    }
    incident.updatedAt = t;
  }

  private emit(change: IncidentChange): void {
    for (const l of this.listeners) l(change);
  }
}
