import { describe, expect, it } from 'vitest';
import { describeWindow, maintenanceAnnouncementAt } from '../../src/duties/maintenance.js';
import {
  judgeWatchdog,
  outageDedupKey,
  silenceText,
  watchdogResolve,
  watchdogTrigger,
} from '../../src/duties/watchdog.js';
import { DEFAULT_MAINTENANCE, escalationMatrixFrom } from '../../src/incidents/escalation.js';

const HOUR = 3_600_000;
const MIN = 60_000;

describe('maintenance announcement (2nd Sunday 02:00–04:00 UTC, 48 h ahead)', () => {
  // December 2026: Sundays are the 6th and the 13th; the window is 13 Dec 02:00–04:00 UTC.
  const start = Date.parse('2026-12-13T02:00:00.000Z');

  it('is due from 48 h before the window until it starts, not before', () => {
    expect(maintenanceAnnouncementAt(new Date(start - 48 * HOUR - 1), DEFAULT_MAINTENANCE)).toBeNull();
    const due = maintenanceAnnouncementAt(new Date(start - 48 * HOUR), DEFAULT_MAINTENANCE);
    expect(due?.window.id).toBe('maintenance-2026-12-13');
    expect(due?.when).toBe('Sunday 13 December 2026, 02:00–04:00 UTC');
    expect(due?.startsIn).toBe('in 48 h');
    // A late run (the bot was down when it fell due) still announces the same window.
    expect(maintenanceAnnouncementAt(new Date(start - 15 * MIN), DEFAULT_MAINTENANCE)?.window.id).toBe(
      'maintenance-2026-12-13',
    );
  });

  it('is not due during or after the window (the next one is a month away)', () => {
    expect(maintenanceAnnouncementAt(new Date(start), DEFAULT_MAINTENANCE)).toBeNull();
    expect(maintenanceAnnouncementAt(new Date(start + 3 * HOUR), DEFAULT_MAINTENANCE)).toBeNull();
  });

  it('names the runbook procedure and what pages during the window', () => {
    const a = maintenanceAnnouncementAt(new Date(start - 40 * HOUR), DEFAULT_MAINTENANCE);
    expect(a?.pagingSeverities).toEqual(['SEV-1']);
    expect(a?.procedure[0]).toContain('/qnwis maintenance on');
    expect(a?.notify).toEqual(['the status page', 'e-mail to stakeholders', 'the in-app banner']);
  });

  it('follows the configured schedule, and says nothing when it is off', () => {
    const weekly = escalationMatrixFrom({ maintenance: { ordinal: 1, announceHoursBefore: 24 } }).maintenance;
    // 1st Sunday of December 2026 is the 6th.
    expect(maintenanceAnnouncementAt(new Date('2026-12-05T03:00:00Z'), weekly)?.window.id).toBe(
      'maintenance-2026-12-06',
    );
    const off = escalationMatrixFrom({ maintenance: { enabled: false } }).maintenance;
    expect(maintenanceAnnouncementAt(new Date(start - 10 * HOUR), off)).toBeNull();
  });

  it('describes a window in words', () => {
    expect(
      describeWindow({
        id: 'x',
        start: Date.parse('2027-01-10T02:00:00Z'),
        end: Date.parse('2027-01-10T04:00:00Z'),
        announceAt: 0,
      }),
    ).toBe('Sunday 10 January 2027, 02:00–04:00 UTC');
  });
});

describe('dead-man switch', () => {
  const started = new Date('2026-11-28T03:00:00.000Z');
  const at = (m: number) => new Date(started.getTime() + m * MIN);
  const max = 10 * MIN;

  it('is healthy while the heartbeat is younger than the limit; missing at the limit', () => {
    expect(
      judgeWatchdog({ lastSeen: at(20), watchingSince: started, now: at(29), maxSilenceMs: max }),
    ).toMatchObject({ healthy: true, silentMs: 9 * MIN });
    expect(
      judgeWatchdog({ lastSeen: at(20), watchingSince: started, now: at(30), maxSilenceMs: max }).healthy,
    ).toBe(false);
  });

  it('never seen: grants one silence period from the start, then misses it', () => {
    expect(
      judgeWatchdog({ lastSeen: null, watchingSince: started, now: at(9), maxSilenceMs: max }),
    ).toMatchObject({
      healthy: true,
      neverSeen: true,
    });
    expect(
      judgeWatchdog({ lastSeen: null, watchingSince: started, now: at(10), maxSilenceMs: max }).healthy,
    ).toBe(false);
  });

  it('a heartbeat older than the bot (it was down) does not page at start-up', () => {
    const old = new Date(started.getTime() - 5 * HOUR);
    expect(
      judgeWatchdog({ lastSeen: old, watchingSince: started, now: at(1), maxSilenceMs: max }),
    ).toMatchObject({
      healthy: true,
      silentMs: MIN,
      neverSeen: false,
    });
    expect(
      judgeWatchdog({ lastSeen: old, watchingSince: started, now: at(11), maxSilenceMs: max }).healthy,
    ).toBe(false);
  });

  it('one dedup key per outage, from its start', () => {
    expect(outageDedupKey(new Date('2026-11-28T03:41:07.123Z'))).toBe(
      'qnwis-watchdog-missing-20261128T034107Z',
    );
    expect(outageDedupKey(at(1))).not.toBe(outageDedupKey(at(90)));
  });

  it('pages critical with what broke, and resolves with the same key', () => {
    const outage = {
      heartbeat: 'Watchdog',
      dedupKey: outageDedupKey(at(30)),
      startedAt: at(30),
      lastSeen: at(19),
      maxSilenceMs: max,
    };
    const silence = silenceText(outage, at(30), started);
    expect(silence).toBe('no Watchdog heartbeat for 11 min (last at 2026-11-28T03:19:00.000Z)');
    const trigger = watchdogTrigger(outage, 'R'.repeat(32), silence, {
      alertmanager: 'http://127.0.0.1:9093',
    });
    expect(trigger).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'qnwis-watchdog-missing-20261128T033000Z',
      payload: { severity: 'critical', source: 'qnwis-chatops', class: 'dead-man-switch' },
      links: [{ href: 'http://127.0.0.1:9093', text: 'Alertmanager' }],
    });
    expect(trigger.payload?.summary).toMatch(
      /^QNWIS alert pipeline broken: no Watchdog heartbeat for 11 min/,
    );
    expect(trigger.payload?.summary).toContain('Prometheus → Alertmanager → qnwis-chatops is not delivering');
    expect(trigger.payload?.summary.length).toBeLessThanOrEqual(1024);
    expect(watchdogResolve(outage.dedupKey, 'R'.repeat(32))).toEqual({
      routing_key: 'R'.repeat(32),
      event_action: 'resolve',
      dedup_key: outage.dedupKey,
    });
  });

  it('says "since the bot started" when nothing arrived since then', () => {
    const outage = {
      heartbeat: 'Watchdog',
      dedupKey: 'k',
      startedAt: at(10),
      lastSeen: null,
      maxSilenceMs: max,
    };
    expect(silenceText(outage, at(10), started)).toBe(
      'no Watchdog heartbeat has arrived since the bot started watching 10 min ago',
    );
  });
});
