/**
 * The dead-man switch (issue 7, item 7): Prometheus's always-firing `Watchdog` alert reaches the
 * bot through Alertmanager every few minutes; when it stops arriving, the alert pipeline
 * (Prometheus → Alertmanager → bot) is broken and no other alert can be trusted to arrive, so the
 * bot pages PagerDuty directly. Pure: the last heartbeat and the clock in, the verdict and the
 * Events API v2 events out.
 *
 * - Silence is measured from the last heartbeat, or, when none arrived since this bot process
 *   started watching, from that start: a bot that was down for an hour must give Alertmanager one
 *   silence period to deliver again before it pages (its repeat interval), not page at start-up.
 * - Exactly at the limit counts as missing (the limit is "no delivery for this long").
 * - One outage, one PagerDuty alert: its dedup_key carries the outage's start, so the page is
 *   deduplicated while it lasts, and resolved with the same key when the heartbeat comes back; the
 *   next outage opens a new alert.
 */

import type { EventsApiEvent } from '../jobs/pagerduty-events.js';
import { formatDuration } from '../ops/diagnostics/common.js';

export interface WatchdogReading {
  readonly lastSeen: Date | null;
  /** When this process began watching (its start). */
  readonly watchingSince: Date;
  readonly now: Date;
  readonly maxSilenceMs: number;
}

export interface WatchdogVerdict {
  readonly healthy: boolean;
  /** How long nothing has arrived (from the last heartbeat, or from the start of watching). */
  readonly silentMs: number;
  /** No heartbeat was ever recorded. */
  readonly neverSeen: boolean;
}

export function judgeWatchdog(r: WatchdogReading): WatchdogVerdict {
  const from = r.lastSeen && r.lastSeen > r.watchingSince ? r.lastSeen : r.watchingSince;
  const silentMs = Math.max(0, r.now.getTime() - from.getTime());
  return { healthy: silentMs < r.maxSilenceMs, silentMs, neverSeen: r.lastSeen === null };
}

/** `qnwis-watchdog-missing-20261128T034100Z`: stable for one outage, new for the next. */
export function outageDedupKey(startedAt: Date): string {
  const iso = startedAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `qnwis-watchdog-missing-${iso}`;
}

export interface WatchdogOutage {
  readonly heartbeat: string;
  readonly dedupKey: string;
  readonly startedAt: Date;
  readonly lastSeen: Date | null;
  readonly maxSilenceMs: number;
}

/** "no Watchdog for 11 min (last 03:41:00 UTC)" / "no Watchdog since the bot started 12 min ago". */
export function silenceText(o: WatchdogOutage, now: Date, watchingSince: Date): string {
  if (o.lastSeen === null || o.lastSeen < watchingSince)
    return `no ${o.heartbeat} heartbeat has arrived since the bot started watching ${formatDuration(now.getTime() - watchingSince.getTime())} ago${o.lastSeen ? ` (the last one before that: ${o.lastSeen.toISOString()})` : ''}`;
  return `no ${o.heartbeat} heartbeat for ${formatDuration(now.getTime() - o.lastSeen.getTime())} (last at ${o.lastSeen.toISOString()})`;
}

export function pageSummary(o: WatchdogOutage, silence: string): string {
  return (
    `QNWIS alert pipeline broken: ${silence}, limit ${formatDuration(o.maxSilenceMs)}. ` +
    'Prometheus → Alertmanager → qnwis-chatops is not delivering: other alerts may not be reaching anyone.'
  ).slice(0, 1024);
}

export function watchdogTrigger(
  o: WatchdogOutage,
  routingKey: string,
  silence: string,
  links: { readonly alertmanager?: string; readonly prometheus?: string } = {},
): EventsApiEvent {
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: o.dedupKey,
    payload: {
      summary: pageSummary(o, silence),
      source: 'qnwis-chatops',
      severity: 'critical',
      component: 'alerting',
      group: 'monitoring',
      class: 'dead-man-switch',
      custom_details: {
        heartbeat: o.heartbeat,
        last_seen: o.lastSeen?.toISOString() ?? null,
        max_silence_sec: Math.round(o.maxSilenceMs / 1000),
        outage_detected_at: o.startedAt.toISOString(),
        check:
          'Is Prometheus evaluating rules? Is Alertmanager running and able to reach the bot (webhook token, network)?',
      },
    },
    links: [
      ...(links.alertmanager ? [{ href: links.alertmanager, text: 'Alertmanager' }] : []),
      ...(links.prometheus ? [{ href: links.prometheus, text: 'Prometheus alerts' }] : []),
    ],
    client: 'qnwis-chatops',
  };
}

export function watchdogResolve(dedupKey: string, routingKey: string): EventsApiEvent {
  return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
}
