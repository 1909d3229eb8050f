/**
 * PagerDuty's JSON shapes, built from the store's model (pure). `self` URLs point at the stand-in's
 * REST API (`apiBase`, where PagerDuty uses https://api.pagerduty.com) and `html_url`s at its page.
 *
 * Shapes follow the REST API v2 reference (incident, user, service, escalation policy, on-call,
 * note, references `{ id, type: '<x>_reference', summary, self, html_url }`) and the v3 webhook
 * payload (webhooks/01-Overview.md: `event.data` for an incident event is the compact `incident`
 * object; for `incident.annotated` it is an `incident_note`).
 */
import type { SeedEscalationPolicy, SeedService, SeedTeam, SeedUser } from './seed.js';
import type { Actor, Alert, Incident, IncidentChange, Note, PagerDutyStore } from './store.js';

export interface Urls {
  /** Base of the REST API, e.g. http://127.0.0.1:3200 (no trailing slash). */
  readonly apiBase: string;
}

/** REST timestamps as PagerDuty writes them: ISO 8601, seconds, `Z`. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface Reference {
  id: string;
  type: string;
  summary: string;
  self: string;
  html_url: string;
}

const ref = (urls: Urls, type: string, collection: string, id: string, summary: string): Reference => ({
  id,
  type,
  summary,
  self: `${urls.apiBase}/${collection}/${id}`,
  html_url: `${urls.apiBase}/?${collection}=${id}`,
});

export const userRef = (urls: Urls, u: SeedUser): Reference =>
  ref(urls, 'user_reference', 'users', u.id, u.name);
export const serviceRef = (urls: Urls, s: SeedService): Reference =>
  ref(urls, 'service_reference', 'services', s.id, s.name);
export const policyRef = (urls: Urls, p: SeedEscalationPolicy): Reference =>
  ref(urls, 'escalation_policy_reference', 'escalation_policies', p.id, p.name);
export const teamRef = (urls: Urls, t: SeedTeam): Reference =>
  ref(urls, 'team_reference', 'teams', t.id, t.name);
export const incidentRef = (urls: Urls, i: Incident): Reference =>
  ref(urls, 'incident_reference', 'incidents', i.id, incidentSummary(i));

export function incidentSummary(i: Incident): string {
  return `[#${i.number}] ${i.title}`;
}

function actorRef(urls: Urls, store: PagerDutyStore, actor: Actor): Reference | null {
  if (actor.kind === 'user') {
    const u = store.user(actor.userId);
    return u === undefined ? null : userRef(urls, u);
  }
  const s = store.service(actor.serviceId);
  return s === undefined ? null : serviceRef(urls, s);
}

function usersOf(store: PagerDutyStore, ids: readonly string[]): SeedUser[] {
  return ids.map((id) => store.user(id)).filter((u): u is SeedUser => u !== undefined);
}

function teams(urls: Urls, store: PagerDutyStore): Reference[] {
  return store.seed.teams.map((t) => teamRef(urls, t));
}

/** The full REST `incident` object (GET /incidents, GET /incidents/{id}, PUT responses). */
export function renderIncident(urls: Urls, store: PagerDutyStore, i: Incident): Record<string, unknown> {
  const service = store.service(i.serviceId);
  const policy = store.escalationPolicy(i.escalationPolicyId);
  const triggered = i.alerts.filter((a) => a.status !== 'resolved').length;
  return {
    id: i.id,
    type: 'incident',
    summary: incidentSummary(i),
    self: `${urls.apiBase}/incidents/${i.id}`,
    html_url: `${urls.apiBase}/?incidents=${i.id}`,
    incident_number: i.number,
    title: i.title,
    description: i.title,
    created_at: isoSeconds(i.createdAt),
    updated_at: isoSeconds(i.updatedAt),
    status: i.status,
    incident_key: i.incidentKey,
    service: service === undefined ? null : serviceRef(urls, service),
    assignments: i.assignments.flatMap((a) => {
      const u = store.user(a.userId);
      return u === undefined ? [] : [{ at: isoSeconds(a.at), assignee: userRef(urls, u) }];
    }),
    assigned_via: 'escalation_policy',
    last_status_change_at: isoSeconds(i.lastStatusChangeAt),
    last_status_change_by: actorRef(urls, store, i.lastStatusChangeBy),
    resolved_at: i.resolvedAt === null ? null : isoSeconds(i.resolvedAt),
    first_trigger_log_entry: {
      id: `${i.id}T`,
      type: 'trigger_log_entry_reference',
      summary: 'Triggered through the API.',
      self: `${urls.apiBase}/log_entries/${i.id}T`,
      html_url: `${urls.apiBase}/?incidents=${i.id}`,
    },
    alert_counts: { all: i.alerts.length, triggered, resolved: i.alerts.length - triggered },
    is_mergeable: true,
    escalation_policy: policy === undefined ? null : policyRef(urls, policy),
    teams: teams(urls, store),
    pending_actions: [],
    acknowledgements: i.acknowledgements.flatMap((a) => {
      const by = actorRef(urls, store, a.by);
      return by === null ? [] : [{ at: isoSeconds(a.at), acknowledger: by }];
    }),
    alert_grouping: null,
    basic_alert_grouping: null,
    urgency: i.urgency,
    priority: null,
    resolve_reason: null,
    conference_bridge: null,
    incidents_responders: [],
    responder_requests: [],
    body: { type: 'incident_body', details: i.title },
  };
}

/** GET /incidents/{id}/alerts item. */
export function renderAlert(
  urls: Urls,
  store: PagerDutyStore,
  i: Incident,
  a: Alert,
): Record<string, unknown> {
  const service = store.service(i.serviceId);
  return {
    id: a.id,
    type: 'alert',
    summary: a.payload.summary,
    self: `${urls.apiBase}/alerts/${a.id}`,
    html_url: `${urls.apiBase}/?incidents=${i.id}`,
    created_at: isoSeconds(a.createdAt),
    status: a.status,
    resolved_at: a.resolvedAt === null ? null : isoSeconds(a.resolvedAt),
    alert_key: a.dedupKey,
    suppressed: false,
    severity: a.payload.severity,
    service: service === undefined ? null : serviceRef(urls, service),
    incident: incidentRef(urls, i),
    body: {
      type: 'alert_body',
      contexts: [
        ...a.links.map((l) => ({ type: 'link', ...l })),
        ...a.images.map((im) => ({ type: 'image', ...im })),
      ],
      details: a.payload.custom_details ?? null,
      cef_details: {
        summary: a.payload.summary,
        source_origin: a.payload.source,
        severity: a.payload.severity,
        ...(a.payload.component === undefined ? {} : { source_component: a.payload.component }),
        ...(a.payload.group === undefined ? {} : { service_group: a.payload.group }),
        ...(a.payload.class === undefined ? {} : { event_class: a.payload.class }),
        details: a.payload.custom_details ?? null,
      },
    },
  };
}

export function renderNote(urls: Urls, store: PagerDutyStore, n: Note): Record<string, unknown> {
  const u = store.user(n.userId);
  return {
    id: n.id,
    user: u === undefined ? null : userRef(urls, u),
    channel: { summary: 'The PagerDuty website or APIs' },
    content: n.content,
    created_at: isoSeconds(n.createdAt),
  };
}

export function renderUser(urls: Urls, store: PagerDutyStore, u: SeedUser): Record<string, unknown> {
  return {
    ...userRef(urls, u),
    type: 'user',
    name: u.name,
    email: u.email,
    time_zone: 'Asia/Qatar',
    color: u.color,
    avatar_url: `${urls.apiBase}/_local/avatar/${u.id}`,
    billed: true,
    role: u.role,
    description: u.jobTitle,
    invitation_sent: false,
    job_title: u.jobTitle,
    teams: teams(urls, store),
    contact_methods: [],
    notification_rules: [],
    coordinated_incidents: [],
  };
}

export function renderService(urls: Urls, store: PagerDutyStore, s: SeedService): Record<string, unknown> {
  const policy = store.escalationPolicy(s.escalationPolicyId);
  const last = store
    .allIncidents()
    .filter((i) => i.serviceId === s.id)
    .at(-1);
  return {
    ...serviceRef(urls, s),
    type: 'service',
    name: s.name,
    description: s.description,
    auto_resolve_timeout: null,
    acknowledgement_timeout: null,
    created_at: s.createdAt,
    status: last !== undefined && last.status !== 'resolved' ? 'critical' : 'active',
    last_incident_timestamp: last === undefined ? null : isoSeconds(last.createdAt),
    escalation_policy: policy === undefined ? null : policyRef(urls, policy),
    teams: teams(urls, store),
    integrations: [
      {
        id: s.integrationId,
        type: 'events_api_v2_inbound_integration_reference',
        summary: 'Events API v2',
        self: `${urls.apiBase}/services/${s.id}/integrations/${s.integrationId}`,
        html_url: `${urls.apiBase}/?services=${s.id}`,
      },
    ],
    incident_urgency_rule: { type: 'constant', urgency: 'severity_based' },
    alert_creation: 'create_alerts_and_incidents',
    alert_grouping_parameters: { type: null },
  };
}

export function renderEscalationPolicy(
  urls: Urls,
  store: PagerDutyStore,
  p: SeedEscalationPolicy,
): Record<string, unknown> {
  return {
    ...policyRef(urls, p),
    type: 'escalation_policy',
    name: p.name,
    description: p.description,
    num_loops: p.numLoops,
    on_call_handoff_notifications: 'if_has_services',
    escalation_rules: p.rules.map((r) => ({
      id: r.id,
      escalation_delay_in_minutes: r.delayMinutes,
      targets: usersOf(store, r.userIds).map((u) => userRef(urls, u)),
    })),
    services: store
      .services()
      .filter((s) => s.escalationPolicyId === p.id)
      .map((s) => serviceRef(urls, s)),
    teams: teams(urls, store),
  };
}

export interface OnCallEntry {
  readonly policy: SeedEscalationPolicy;
  readonly level: number;
  readonly user: SeedUser;
}

/** Everyone on call, per policy and level. Rules target users directly, so there is no schedule and no start/end. */
export function onCalls(store: PagerDutyStore): OnCallEntry[] {
  return store
    .escalationPolicies()
    .flatMap((policy) =>
      policy.rules.flatMap((rule, idx) =>
        usersOf(store, rule.userIds).map((user) => ({ policy, level: idx + 1, user })),
      ),
    );
}

export function renderOnCall(
  urls: Urls,
  store: PagerDutyStore,
  e: OnCallEntry,
  includeUsers: boolean,
): Record<string, unknown> {
  return {
    escalation_policy: policyRef(urls, e.policy),
    escalation_level: e.level,
    schedule: null,
    user: includeUsers ? renderUser(urls, store, e.user) : userRef(urls, e.user),
    start: null,
    end: null,
  };
}

/** `event.agent` and `event.client` of a v3 webhook for a change made by `actor`. */
function agentAndClient(
  urls: Urls,
  store: PagerDutyStore,
  actor: Actor,
): { agent: Reference | null; client: Record<string, string> | null } {
  if (actor.kind === 'user') return { agent: actorRef(urls, store, actor), client: { name: 'PagerDuty' } };
  return {
    agent: actorRef(urls, store, actor),
    client:
      actor.client === undefined
        ? null
        : { name: actor.client.name, ...(actor.client.url === undefined ? {} : { url: actor.client.url }) },
  };
}

/** The compact `incident` object of a v3 webhook's `event.data`. */
export function webhookIncidentData(urls: Urls, store: PagerDutyStore, i: Incident): Record<string, unknown> {
  const service = store.service(i.serviceId);
  const policy = store.escalationPolicy(i.escalationPolicyId);
  return {
    id: i.id,
    type: 'incident',
    self: `${urls.apiBase}/incidents/${i.id}`,
    html_url: `${urls.apiBase}/?incidents=${i.id}`,
    number: i.number,
    status: i.status,
    incident_key: i.incidentKey,
    created_at: isoSeconds(i.createdAt),
    title: i.title,
    service: service === undefined ? null : serviceRef(urls, service),
    assignees: usersOf(
      store,
      i.assignments.map((a) => a.userId),
    ).map((u) => userRef(urls, u)),
    escalation_policy: policy === undefined ? null : policyRef(urls, policy),
    teams: teams(urls, store),
    priority: null,
    urgency: i.urgency,
    conference_bridge: null,
    resolve_reason: null,
  };
}

/**
 * The complete v3 webhook body `{ event: { id, event_type, resource_type, occurred_at, agent,
 * client, data } }` for a store change. The incident is rendered as it is when the change is
 * queued, so later changes do not rewrite an earlier webhook.
 */
export function renderWebhookEvent(
  urls: Urls,
  store: PagerDutyStore,
  change: IncidentChange,
  eventId: string,
): { event: Record<string, unknown> } | undefined {
  const incident = store.incident(change.incidentId);
  if (incident === undefined) return undefined;
  const { agent, client } = agentAndClient(urls, store, change.actor);
  let data: Record<string, unknown>;
  if (change.type === 'incident.annotated') {
    const note = incident.notes.find((n) => n.id === change.noteId);
    data = {
      incident: incidentRef(urls, incident),
      id: change.noteId,
      content: note?.content ?? '',
      trimmed: false,
      type: 'incident_note',
    };
  } else {
    data = webhookIncidentData(urls, store, incident);
  }
  return {
    event: {
      id: eventId,
      event_type: change.type,
      resource_type: 'incident',
      occurred_at: new Date(change.occurredAt).toISOString(),
      agent,
      client,
      data,
    },
  };
}
