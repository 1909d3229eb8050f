/**
 * PagerDuty change events (Events API v2, `POST /v2/change/enqueue`, developer-docs
 * `events-API-v2/03-Change-Events.md`): a record on the service's timeline that something changed
 * ("maintenance started"), which notifies nobody. Body `{ routing_key, payload: { summary,
 * timestamp, source, custom_details }, links }`; answered 202 `{ status: 'success', message:
 * 'Change event processed' }`. Response codes and retry rules are the Events API's: 400 is never
 * retried, 429 (not ingested) and 5xx may be.
 *
 * Sent with fetch to the configurable `PAGERDUTY_EVENTS_URL`, like the alert events
 * (src/jobs/pagerduty-events.ts): pdjs's `change()` always builds `https://${server}/…`.
 */
import { PagerDutyRejectedError, PagerDutyUnavailableError } from '../../errors.js';

/** PagerDuty's limit for `payload.summary`. */
export const MAX_CHANGE_SUMMARY_CHARS = 1024;
export const DEFAULT_CHANGE_EVENTS_TIMEOUT_MS = 5_000;

export interface ChangeEventLink {
  readonly href: string;
  readonly text?: string;
}

/** One change event, without the routing key (the port's implementation holds it). */
export interface ChangeEvent {
  /** At most 1024 characters (cut with an ellipsis beyond). */
  readonly summary: string;
  /** Where the change happened, e.g. "qnwis-production". */
  readonly source: string;
  /** ISO-8601. */
  readonly timestamp: string;
  readonly customDetails?: Readonly<Record<string, unknown>>;
  readonly links?: readonly ChangeEventLink[];
}

/**
 * Sends change events. Rejects with `PagerDutyUnavailableError` (transient: unreachable, timeout,
 * 429 — the event was not ingested —, 5xx) or `PagerDutyRejectedError` (400: never retried).
 */
export interface ChangeEventsPort {
  send(event: ChangeEvent): Promise<void>;
}

export interface ChangeEventsClientOptions {
  /** Events API base URL (`PAGERDUTY_EVENTS_URL`), e.g. https://events.pagerduty.com. */
  readonly eventsUrl: string;
  /** The 32-character integration key (`PAGERDUTY_ROUTING_KEY`). */
  readonly routingKey: string;
  /** Default 5000 ms. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** The Events API body for `event` (pure). */
export function changeEventBody(routingKey: string, event: ChangeEvent): Record<string, unknown> {
  const summary =
    event.summary.length > MAX_CHANGE_SUMMARY_CHARS
      ? `${event.summary.slice(0, MAX_CHANGE_SUMMARY_CHARS - 1)}…`
      : event.summary;
  return {
    routing_key: routingKey,
    payload: {
      summary,
      timestamp: event.timestamp,
      source: event.source,
      ...(event.customDetails ? { custom_details: event.customDetails } : {}),
    },
    links: (event.links ?? []).map((l) => ({ href: l.href, ...(l.text ? { text: l.text } : {}) })),
  };
}

export function createChangeEventsClient(opts: ChangeEventsClientOptions): ChangeEventsPort {
  const url = new URL('/v2/change/enqueue', opts.eventsUrl).toString();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CHANGE_EVENTS_TIMEOUT_MS;
  const doFetch = opts.fetch ?? fetch;
  return {
    async send(event) {
      let res: Response;
      let text: string;
      try {
        res = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(changeEventBody(opts.routingKey, event)),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'manual',
        });
        text = await res.text();
      } catch (err) {
        const name = (err as { name?: unknown })?.name;
        const why = name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'unreachable';
        throw new PagerDutyUnavailableError(`PagerDuty Events API (change events) ${why}`, 2_000, {
          cause: err,
        });
      }
      if (res.status >= 200 && res.status <= 299) return;
      if (res.status === 429)
        throw new PagerDutyUnavailableError(
          'PagerDuty Events API rate limit (429): the change event was not ingested',
          5_000,
          { rateLimited: true },
        );
      if (res.status >= 500)
        throw new PagerDutyUnavailableError(`PagerDuty Events API answered ${res.status}`, 2_000);
      // The routing key is never in PagerDuty's error text, but the body is cut short regardless.
      throw new PagerDutyRejectedError(
        `PagerDuty refused the change event (${res.status}): ${text.replaceAll(opts.routingKey, '[redacted]').slice(0, 300)}`,
      );
    },
  };
}
