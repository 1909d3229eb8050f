/**
 * Events API v2 (`POST /v2/enqueue`) request validation, as PagerDuty documents it
 * (developer-docs `events-API-v2/02-Trigger-Events.md`, `01-Overview.md`):
 *
 * - `routing_key` (required): the 32-character integration key, alphanumeric.
 * - `event_action` (required): `trigger`, `acknowledge` or `resolve`.
 * - `dedup_key`: at most 255 characters; required for `acknowledge` and `resolve` (a trigger without
 *   one gets a generated key, returned in the 202 body).
 * - for `trigger`, `payload.summary` (≤1024), `payload.source` and `payload.severity`
 *   (`critical`/`error`/`warning`/`info`) are required; `timestamp`, `component`, `group`, `class`,
 *   `custom_details`, `links[]` (`href` required) and `images[]` (`src` required) are optional.
 * - at most 512 KB per event.
 *
 * An invalid event is answered 400 `{ status: 'invalid event', message: 'Event object is invalid',
 * errors: [...] }`. The error strings follow the ones PagerDuty is seen returning
 * ("Length of 'routing_key' is incorrect (should be 32 characters)", "'payload.source' is missing or
 * blank"); where PagerDuty's exact wording is not public, the same pattern is used.
 *
 * Pure: no clock, no I/O.
 */

export const EVENT_ACTIONS = ['trigger', 'acknowledge', 'resolve'] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];
export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ROUTING_KEY_LENGTH = 32;
export const MAX_DEDUP_KEY_LENGTH = 255;
export const MAX_SUMMARY_LENGTH = 1024;
/** "Events API payloads are limited to 512 KB". */
export const MAX_EVENT_BYTES = 512 * 1024;

export interface EventLink {
  readonly href: string;
  readonly text?: string;
}

export interface EventImage {
  readonly src: string;
  readonly href?: string;
  readonly alt?: string;
}

export interface EventPayload {
  readonly summary: string;
  readonly source: string;
  readonly severity: Severity;
  readonly timestamp?: string;
  readonly component?: string;
  readonly group?: string;
  readonly class?: string;
  readonly custom_details?: unknown;
}

/** A validated Events API v2 alert event. `payload` is present for every trigger. */
export interface EnqueueEvent {
  readonly routing_key: string;
  readonly event_action: EventAction;
  readonly dedup_key?: string;
  readonly payload?: EventPayload;
  readonly links: readonly EventLink[];
  readonly images: readonly EventImage[];
  readonly client?: string;
  readonly client_url?: string;
}

export type EventValidation =
  | { readonly ok: true; readonly event: EnqueueEvent }
  | { readonly ok: false; readonly errors: readonly string[] };

export const INVALID_EVENT_STATUS = 'invalid event';
export const INVALID_EVENT_MESSAGE = 'Event object is invalid';

/** The 400 body PagerDuty answers for an invalid event. */
export function invalidEventBody(errors: readonly string[]): {
  status: string;
  message: string;
  errors: string[];
} {
  return { status: INVALID_EVENT_STATUS, message: INVALID_EVENT_MESSAGE, errors: [...errors] };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isBlank(v: unknown): boolean {
  return typeof v !== 'string' || v.trim().length === 0;
}

function optionalString(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  errors: string[],
): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errors.push(`'${path}' must be a string`);
    return undefined;
  }
  return v;
}

/** Parses the raw request body text; invalid JSON is an invalid event, as PagerDuty treats it. */
export function parseEventBody(text: string): EventValidation {
  if (Buffer.byteLength(text, 'utf8') > MAX_EVENT_BYTES) {
    return { ok: false, errors: [`Event is too large (maximum is ${MAX_EVENT_BYTES / 1024} KB)`] };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, errors: ['Malformed JSON: the request body could not be parsed'] };
  }
  return validateEvent(body);
}

/** Validates a parsed body. Collects every problem, as PagerDuty lists several at once. */
export function validateEvent(body: unknown): EventValidation {
  if (!isRecord(body)) return { ok: false, errors: ['Event must be a JSON object'] };
  const errors: string[] = [];

  const routingKey = body.routing_key;
  validateRoutingKey(routingKey, errors);

  const action = body.event_action;
  let eventAction: EventAction | undefined;
  if (isBlank(action)) {
    errors.push("'event_action' is missing or blank");
  } else if (!(EVENT_ACTIONS as readonly unknown[]).includes(action)) {
    errors.push("'event_action' is invalid (must be one of trigger, acknowledge, resolve)");
  } else {
    eventAction = action as EventAction;
  }

  let dedupKey: string | undefined;
  const rawDedup = body.dedup_key;
  if (rawDedup !== undefined && rawDedup !== null) {
    if (typeof rawDedup !== 'string') {
      errors.push("'dedup_key' must be a string");
    } else if (rawDedup.length > MAX_DEDUP_KEY_LENGTH) {
      errors.push(`'dedup_key' is too long (maximum is ${MAX_DEDUP_KEY_LENGTH} characters)`);
    } else if (rawDedup.length > 0) {
      dedupKey = rawDedup;
    }
  }
  if ((eventAction === 'acknowledge' || eventAction === 'resolve') && dedupKey === undefined) {
    if (typeof rawDedup !== 'string' || rawDedup.length <= MAX_DEDUP_KEY_LENGTH) {
      errors.push("'dedup_key' is missing or blank");
    }
  }

  let payload: EventPayload | undefined;
  if (eventAction === 'trigger') {
    payload = validatePayload(body.payload, errors);
  }

  const links = validateList(body.links, 'links', 'href', errors) as EventLink[];
  const images = validateList(body.images, 'images', 'src', errors) as EventImage[];
  const client = optionalString(body, 'client', 'client', errors);
  const clientUrl = optionalString(body, 'client_url', 'client_url', errors);

  if (errors.length > 0 || eventAction === undefined || typeof routingKey !== 'string') {
    return { ok: false, errors };
  }
  return {
    ok: true,
    event: {
      routing_key: routingKey,
      event_action: eventAction,
      ...(dedupKey === undefined ? {} : { dedup_key: dedupKey }),
      ...(payload === undefined ? {} : { payload }),
      links,
      images,
      ...(client === undefined ? {} : { client }),
      ...(clientUrl === undefined ? {} : { client_url: clientUrl }),
    },
  };
}

function validatePayload(raw: unknown, errors: string[]): EventPayload | undefined {
  if (!isRecord(raw)) {
    errors.push("'payload' is missing or blank");
    return undefined;
  }
  const before = errors.length;
  const summary = raw.summary;
  if (isBlank(summary)) errors.push("'payload.summary' is missing or blank");
  else if (typeof summary === 'string' && summary.length > MAX_SUMMARY_LENGTH) {
    errors.push(`'payload.summary' is too long (maximum is ${MAX_SUMMARY_LENGTH} characters)`);
  }
  if (isBlank(raw.source)) errors.push("'payload.source' is missing or blank");
  const severity = raw.severity;
  if (isBlank(severity)) errors.push("'payload.severity' is missing or blank");
  else if (!(SEVERITIES as readonly unknown[]).includes(severity)) {
    errors.push("'payload.severity' is invalid (must be one of critical, error, warning, info)");
  }
  const timestamp = optionalString(raw, 'timestamp', 'payload.timestamp', errors);
  if (timestamp !== undefined && Number.isNaN(Date.parse(timestamp))) {
    errors.push("'payload.timestamp' is not a valid ISO 8601 timestamp");
  }
  const component = optionalString(raw, 'component', 'payload.component', errors);
  const group = optionalString(raw, 'group', 'payload.group', errors);
  const klass = optionalString(raw, 'class', 'payload.class', errors);
  if (errors.length > before) return undefined;
  return {
    summary: summary as string,
    source: raw.source as string,
    severity: severity as Severity,
    ...(timestamp === undefined ? {} : { timestamp }),
    ...(component === undefined ? {} : { component }),
    ...(group === undefined ? {} : { group }),
    ...(klass === undefined ? {} : { class: klass }),
    ...(raw.custom_details === undefined ? {} : { custom_details: raw.custom_details }),
  };
}

function validateList(raw: unknown, name: string, required: string, errors: string[]): unknown[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    errors.push(`'${name}' must be an array`);
    return [];
  }
  const out: unknown[] = [];
  raw.forEach((item, i) => {
    if (!isRecord(item)) {
      errors.push(`'${name}[${i}]' must be an object`);
      return;
    }
    if (isBlank(item[required])) {
      errors.push(`'${name}[${i}].${required}' is missing or blank`);
      return;
    }
    out.push(item);
  });
  return out;
}

// ---- Change events ---------------------------------------------------------------------------
//
// `POST /v2/change/enqueue` (developer-docs `events-API-v2/03-Change-Events.md`): `routing_key`
// (required, the same 32-character integration key as alert events), `payload.summary` (required,
// ≤1024), `payload.source`, `payload.timestamp` and `payload.custom_details` (an object) optional,
// and `links[]` (`href` required, `text` optional; "the Change Events API only supports `links`":
// other fields are ignored, as PagerDuty ignores fields it does not know). Response codes are the Events API's; a change event is
// answered 202 `{ status: 'success', message: 'Change event processed' }` (no dedup_key: change
// events are not alerts and are never de-duplicated, acknowledged or resolved). The body of that
// answer is the one PagerDuty's own Go client (go-pagerduty `change_events_test.go`) is written
// against; the docs only point to the Events API overview.

/** A validated change event. */
export interface ChangeEventRequest {
  readonly routing_key: string;
  readonly payload: {
    readonly summary: string;
    readonly source?: string;
    readonly timestamp?: string;
    readonly custom_details?: Readonly<Record<string, unknown>>;
  };
  readonly links: readonly EventLink[];
}

export type ChangeEventValidation =
  | { readonly ok: true; readonly event: ChangeEventRequest }
  | { readonly ok: false; readonly errors: readonly string[] };

/** The 202 body of an accepted change event. */
export const CHANGE_EVENT_ACCEPTED = { status: 'success', message: 'Change event processed' } as const;

/** Parses the raw body of a change event (invalid JSON is an invalid event). */
export function parseChangeEventBody(text: string): ChangeEventValidation {
  if (Buffer.byteLength(text, 'utf8') > MAX_EVENT_BYTES) {
    return { ok: false, errors: [`Event is too large (maximum is ${MAX_EVENT_BYTES / 1024} KB)`] };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, errors: ['Malformed JSON: the request body could not be parsed'] };
  }
  return validateChangeEvent(body);
}

/** Validates a parsed change event, collecting every problem. */
export function validateChangeEvent(body: unknown): ChangeEventValidation {
  if (!isRecord(body)) return { ok: false, errors: ['Event must be a JSON object'] };
  const errors: string[] = [];
  const routingKey = validateRoutingKey(body.routing_key, errors);
  let payload: ChangeEventRequest['payload'] | undefined;
  const raw = body.payload;
  if (!isRecord(raw)) {
    errors.push("'payload' is missing or blank");
  } else {
    const before = errors.length;
    const summary = raw.summary;
    if (isBlank(summary)) errors.push("'payload.summary' is missing or blank");
    else if (typeof summary === 'string' && summary.length > MAX_SUMMARY_LENGTH) {
      errors.push(`'payload.summary' is too long (maximum is ${MAX_SUMMARY_LENGTH} characters)`);
    }
    const source = optionalString(raw, 'source', 'payload.source', errors);
    const timestamp = optionalString(raw, 'timestamp', 'payload.timestamp', errors);
    if (timestamp !== undefined && Number.isNaN(Date.parse(timestamp))) {
      errors.push("'payload.timestamp' is not a valid ISO 8601 timestamp");
    }
    const details = raw.custom_details;
    if (details !== undefined && details !== null && !isRecord(details)) {
      errors.push("'payload.custom_details' must be an object");
    }
    if (errors.length === before) {
      payload = {
        summary: summary as string,
        ...(source === undefined ? {} : { source }),
        ...(timestamp === undefined ? {} : { timestamp }),
        ...(isRecord(details) ? { custom_details: details } : {}),
      };
    }
  }
  const links = validateList(body.links, 'links', 'href', errors) as EventLink[];
  if (errors.length > 0 || payload === undefined || routingKey === undefined) return { ok: false, errors };
  return { ok: true, event: { routing_key: routingKey, payload, links } };
}

/** The routing key rules shared by alert and change events; undefined when invalid. */
function validateRoutingKey(routingKey: unknown, errors: string[]): string | undefined {
  if (isBlank(routingKey)) {
    errors.push("'routing_key' is missing or blank");
    return undefined;
  }
  if (typeof routingKey !== 'string') return undefined;
  const before = errors.length;
  if (routingKey.length !== ROUTING_KEY_LENGTH) {
    errors.push(`Length of 'routing_key' is incorrect (should be ${ROUTING_KEY_LENGTH} characters)`);
  }
  if (!/^[A-Za-z0-9]+$/.test(routingKey)) {
    errors.push("'routing_key' cannot contain non-alphanumeric characters.");
  }
  return errors.length === before ? routingKey : undefined;
}
