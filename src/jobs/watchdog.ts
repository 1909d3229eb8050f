/**
 * The dead-man switch's job (issue 7, item 7): every WATCHDOG_CHECK_SEC, one run across replicas
 * (a BullMQ job scheduler on the duties queue) reads when the `Watchdog` heartbeat last arrived
 * (src/store/incidents.ts records it from the Alertmanager webhook). Silent for longer than
 * WATCHDOG_MAX_SILENCE_SEC: the alert pipeline is broken, so the bot pages PagerDuty directly
 * (Events API v2, not through Alertmanager, which is what may be down) and says so once in Slack;
 * when the heartbeat arrives again, the page is resolved and Slack is told.
 *
 * Once per outage across replicas: the ok → missing and missing → ok transitions are conditional
 * updates in PostgreSQL (src/store/duties.ts); each message is claimed before it is posted and
 * released if Slack refuses it. Every check finishes what an earlier one left undone (a page that
 * PagerDuty did not take, a message Slack refused), so a failure is retried at the next check.
 */

import {
  type PageOutcome,
  watchdogBackMessage,
  watchdogMissingMessage,
} from '../bot/blocks/duty-messages.js';
import type { ChatClient } from '../bot/chat.js';
import {
  judgeWatchdog,
  outageDedupKey,
  silenceText,
  watchdogResolve,
  watchdogTrigger,
} from '../duties/watchdog.js';
import { asError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { dutiesTotal } from '../observability/metrics.js';
import type { DutyStore, WatchdogState } from '../store/duties.js';
import type { IncidentStore } from '../store/incidents.js';
import type { EventsApiClient } from './pagerduty-events.js';

export interface WatchdogDeps {
  store: IncidentStore;
  duties: DutyStore;
  chat: ChatClient;
  /** Null when PAGERDUTY_ROUTING_KEY is not set: Slack is told nobody was paged. */
  pager: { events: EventsApiClient; routingKey: string } | null;
  /** Where the "alerting is broken" message goes (the channel alerts would have reached). */
  channel: string;
  /** The heartbeat alert's name (the first of HEARTBEAT_ALERTS). */
  heartbeat: string;
  maxSilenceMs: number;
  /** When this process started watching: silence before it is not this bot's to judge. */
  watchingSince: Date;
  /** Links for the page (the inventory's Alertmanager and Prometheus). */
  links?: { alertmanager?: string; prometheus?: string };
  log: Logger;
  now?: () => Date;
}

export interface WatchdogCheck {
  readonly healthy: boolean;
  readonly silentMs: number;
  /** What this check did: opened or closed an outage, paged, resolved, posted. */
  readonly did: readonly string[];
}

export async function checkWatchdog(deps: WatchdogDeps): Promise<WatchdogCheck> {
  const now = (deps.now ?? (() => new Date()))();
  const log = deps.log.child({ duty: 'watchdog', heartbeat: deps.heartbeat });
  const lastSeen = await deps.store.lastHeartbeat(deps.heartbeat);
  const verdict = judgeWatchdog({
    lastSeen,
    watchingSince: deps.watchingSince,
    now,
    maxSilenceMs: deps.maxSilenceMs,
  });
  const did: string[] = [];
  if (!verdict.healthy) {
    const opened = await deps.duties.openOutage(deps.heartbeat, now, lastSeen, outageDedupKey(now));
    if (opened) {
      did.push('outage opened');
      dutiesTotal.inc({ duty: 'watchdog', outcome: 'missing' });
      log.error(
        { lastSeen: lastSeen?.toISOString() ?? null, silentMs: verdict.silentMs, dedupKey: opened.dedupKey },
        'Watchdog heartbeat missing: the alert pipeline is broken',
      );
    }
  } else {
    const closed = await deps.duties.closeOutage(deps.heartbeat, now);
    if (closed) {
      did.push('outage closed');
      dutiesTotal.inc({ duty: 'watchdog', outcome: 'back' });
      log.warn(
        { lastSeen: lastSeen?.toISOString() ?? null, dedupKey: closed.dedupKey },
        'Watchdog heartbeat back',
      );
    }
  }
  const state = await deps.duties.watchdog(deps.heartbeat);
  if (state?.dedupKey) {
    if (state.status === 'missing') await finishMissing(deps, state, lastSeen, now, did, log);
    else await finishBack(deps, state, now, did, log);
  }
  return { healthy: verdict.healthy, silentMs: verdict.silentMs, did };
}

async function finishMissing(
  deps: WatchdogDeps,
  state: WatchdogState,
  lastSeen: Date | null,
  now: Date,
  did: string[],
  log: Logger,
): Promise<void> {
  const dedupKey = state.dedupKey ?? '';
  const outage = {
    heartbeat: deps.heartbeat,
    dedupKey,
    startedAt: state.outageStartedAt ?? now,
    lastSeen,
    maxSilenceMs: deps.maxSilenceMs,
  };
  const silence = silenceText(outage, now, deps.watchingSince);
  let page: PageOutcome;
  if (!deps.pager) page = { kind: 'not-configured' };
  else if (state.pagedAt) page = { kind: 'paged', dedupKey };
  else {
    try {
      // PagerDuty de-duplicates on the key: a second replica's trigger for the same outage is one alert.
      await deps.pager.events.send(watchdogTrigger(outage, deps.pager.routingKey, silence, deps.links));
      await deps.duties.markPage(deps.heartbeat, dedupKey, 'trigger');
      page = { kind: 'paged', dedupKey };
      did.push('paged');
      log.error({ dedupKey }, 'paged PagerDuty directly: the alert pipeline is broken');
    } catch (err) {
      page = { kind: 'failed', error: asError(err).message };
      log.error(
        { err, dedupKey },
        'could not page PagerDuty about the broken alert pipeline; next check retries',
      );
    }
  }
  if (!state.missingPostedAt && (await deps.duties.claimMessage(deps.heartbeat, dedupKey, 'missing'))) {
    try {
      await deps.chat.postMessage(
        deps.channel,
        watchdogMissingMessage({ heartbeat: deps.heartbeat, silence, page, now }),
      );
      did.push('told Slack');
    } catch (err) {
      await deps.duties.releaseMessage(deps.heartbeat, dedupKey, 'missing');
      throw err;
    }
  }
  // A failed page is the one thing that must not wait quietly for the next check's log line.
  if (page.kind === 'failed') throw new Error(`PagerDuty page failed: ${page.error}`);
}

async function finishBack(
  deps: WatchdogDeps,
  state: WatchdogState,
  now: Date,
  did: string[],
  log: Logger,
): Promise<void> {
  const dedupKey = state.dedupKey ?? '';
  let resolved: 'resolved' | 'not-paged' | { error: string } = state.pagedAt ? 'resolved' : 'not-paged';
  if (state.pagedAt && !state.pageResolvedAt && deps.pager) {
    try {
      await deps.pager.events.send(watchdogResolve(dedupKey, deps.pager.routingKey));
      await deps.duties.markPage(deps.heartbeat, dedupKey, 'resolve');
      did.push('page resolved');
      log.info({ dedupKey }, 'resolved the dead-man switch page');
    } catch (err) {
      resolved = { error: asError(err).message };
      log.error({ err, dedupKey }, 'could not resolve the dead-man switch page; next check retries');
    }
  }
  // "Back" is told only where "missing" was told: an outage nobody heard of ends quietly.
  if (
    state.missingPostedAt &&
    !state.backPostedAt &&
    (await deps.duties.claimMessage(deps.heartbeat, dedupKey, 'back'))
  ) {
    try {
      await deps.chat.postMessage(
        deps.channel,
        watchdogBackMessage({
          heartbeat: deps.heartbeat,
          outageStartedAt: state.outageStartedAt,
          now: state.backAt ?? now,
          resolved,
        }),
      );
      did.push('told Slack');
    } catch (err) {
      await deps.duties.releaseMessage(deps.heartbeat, dedupKey, 'back');
      throw err;
    }
  }
  if (typeof resolved === 'object') throw new Error(`PagerDuty resolve failed: ${resolved.error}`);
}
