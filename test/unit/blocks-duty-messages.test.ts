import type { KnownBlock } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import {
  backupCheckMessage,
  errorLogReviewMessage,
  maintenanceAnnouncementMessage,
  sloDigestMessage,
  watchdogBackMessage,
  watchdogMissingMessage,
} from '../../src/bot/blocks/duty-messages.js';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import { judgeBackups } from '../../src/duties/backup-check.js';
import { type LogSource, reviewErrorLogs } from '../../src/duties/error-log-review.js';
import { maintenanceAnnouncementAt } from '../../src/duties/maintenance.js';
import { RUNBOOK_SLO_WINDOWS, type SloReadings, sloFigures } from '../../src/duties/slo.js';
import { DEFAULT_MAINTENANCE } from '../../src/incidents/escalation.js';

const NOW = new Date('2026-11-28T08:00:00.000Z');
const WHERE = { host: 'db-primary', dir: '/backups' };

/** Every text of the message, for content assertions. */
function allText(m: { text: string; blocks: KnownBlock[] }): string {
  return `${m.text}\n${JSON.stringify(m.blocks)}`;
}

function expectWithinLimits(m: { text: string; blocks: KnownBlock[] }) {
  expect(checkSlackLimits(m)).toEqual([]);
}

describe('backup check message', () => {
  it('passed: one section with the newest backup', () => {
    const v = judgeBackups(
      WHERE,
      [{ name: 'qnwis_prod_20261128_020000.sql.gz', bytes: 5_000_000, modifiedAt: '2026-11-28T02:00:07Z' }],
      NOW,
    );
    const m = backupCheckMessage(v, NOW);
    expectWithinLimits(m);
    expect(m.text).toMatch(/^✅ Backup check: qnwis_prod_20261128_020000\.sql\.gz, 5 h 59 min old, 4\.8 MiB/);
  });

  it('failed: the findings and the incident it opened', () => {
    const v = judgeBackups(WHERE, [], NOW);
    const m = backupCheckMessage(v, NOW, { key: 'QNWIS-42', channel: 'qnwis-db' });
    expectWithinLimits(m);
    expect(allText(m)).toContain('Opened incident *QNWIS-42* in #qnwis-db');
    expect(allText(m)).toContain('/qnwis backup');
  });

  it('escapes what it did not write (a host name with mrkdwn in it)', () => {
    const v = judgeBackups({ host: '<!channel>', dir: '/backups' }, [], NOW);
    expect(allText(backupCheckMessage(v, NOW))).not.toContain('<!channel>');
  });
});

describe('SLO digest message', () => {
  const readings: SloReadings = {
    availability: { window: 0.9991, recent: 1 },
    availabilityCoverageMinutes: 200,
    p95Seconds: {
      simple: { window: 12.5, recent: 3 },
      medium: { window: 11, recent: 12 },
      complex: { window: null, recent: null },
    },
    errorRate: { window: 0.002, recent: 0.03 },
    cacheHitRate: { window: 0.87, recent: 0.9 },
  };

  it('shows each figure against its target, the breach first in the headline', () => {
    const m = sloDigestMessage({
      figures: sloFigures(readings),
      windows: RUNBOOK_SLO_WINDOWS,
      now: NOW,
      chart: true,
    });
    expectWithinLimits(m);
    expect(m.text).toBe('📊 SLO digest: SLO breached: Simple query p95 12.5 s (target &lt; 10 s)');
    const text = allText(m);
    expect(text).toContain('❌ *Simple query p95* (&lt; 10 s, 24 h)');
    expect(text).toContain('➖ *Complex query p95*');
    expect(text).toContain('last 4 h: ❌ 3 %');
    expect(text).toContain('over the 3 h 20 min of the 30 d Prometheus has data for');
    expect(text).toContain('chart of the query p95 against its targets in the thread');
  });

  it('lists figures it could not read', () => {
    const m = sloDigestMessage({
      figures: sloFigures(readings),
      windows: RUNBOOK_SLO_WINDOWS,
      now: NOW,
      chart: false,
      problems: Array.from({ length: 20 }, (_, i) => `query ${i}: ${'x'.repeat(2000)}`),
    });
    expectWithinLimits(m);
    expect(allText(m)).toContain('Some figures could not be read');
  });
});

describe('error-log review message', () => {
  const line = (i: number, msg: string) =>
    JSON.stringify({
      ts: new Date(NOW.getTime() - 3_600_000).toISOString(),
      level: 'ERROR',
      logger: 'x',
      msg: `${msg} ${i}`,
    });

  it('fits Slack with many hosts and huge distinct patterns, and says what did not fit', () => {
    const sources: LogSource[] = Array.from({ length: 60 }, (_, h) => ({
      host: `app-${String(h).padStart(2, '0')}`,
      service: 'qnwis',
      file: '/var/log/qnwis/error.log',
      lines: Array.from({ length: 30 }, (_, i) =>
        line(i, `${String.fromCharCode(65 + (i % 26)).repeat(900)} <@U123> \`tick\``),
      ),
      capped: false,
    }));
    const review = reviewErrorLogs(sources, new Map([['app-00', new Set<string>()]]), { now: NOW });
    const m = errorLogReviewMessage(review, NOW);
    expectWithinLimits(m);
    expect(allText(m)).toMatch(/…and \d+ more hosts with errors/);
    expect(allText(m)).not.toContain('<@U123>');
  });

  it('marks new patterns and lists quiet hosts in one line', () => {
    const review = reviewErrorLogs(
      [
        {
          host: 'app-01',
          service: 'qnwis',
          file: '/var/log/qnwis/error.log',
          lines: [line(1, 'disk full on /data')],
          capped: false,
        },
        { host: 'app-02', service: 'qnwis', file: '/var/log/qnwis/error.log', lines: [], capped: false },
      ],
      new Map([
        ['app-01', new Set<string>()],
        ['app-02', new Set<string>()],
      ]),
      { now: NOW },
    );
    const m = errorLogReviewMessage(review, NOW);
    expectWithinLimits(m);
    expect(m.text).toBe('🔎 Error-log review: 1 error line in the last 24 h, 1 new pattern');
    expect(allText(m)).toContain('🆕 *×1* `disk full on /data &lt;n&gt;`');
    expect(allText(m)).toContain('No errors: app-02');
  });

  it('a quiet day', () => {
    const review = reviewErrorLogs(
      [{ host: 'app-01', service: 'qnwis', file: '/var/log/qnwis/error.log', lines: [], capped: false }],
      null,
      { now: NOW },
    );
    const m = errorLogReviewMessage(review, NOW);
    expectWithinLimits(m);
    expect(m.text).toBe('🔎 Error-log review: no error lines in the last 24 h on 1 host');
  });
});

describe('maintenance announcement message', () => {
  it('names the window, the paging rule and the procedure', () => {
    const a = maintenanceAnnouncementAt(new Date('2026-12-11T02:00:00Z'), DEFAULT_MAINTENANCE);
    if (!a) throw new Error('expected an announcement');
    const m = maintenanceAnnouncementMessage(a);
    expectWithinLimits(m);
    expect(m.text).toBe('🛠️ Scheduled maintenance Sunday 13 December 2026, 02:00–04:00 UTC (in 48 h)');
    expect(allText(m)).toContain(
      'During the window only SEV-1 pages; other alerts are posted in Slack without paging.',
    );
  });
});

describe('dead-man switch messages', () => {
  it('missing: paged, not configured, or the page failed', () => {
    for (const page of [
      { kind: 'paged', dedupKey: 'qnwis-watchdog-missing-20261128T080000Z' } as const,
      { kind: 'not-configured' } as const,
      { kind: 'failed', error: 'PagerDuty Events API unreachable: connect ECONNREFUSED' } as const,
    ]) {
      const m = watchdogMissingMessage({
        heartbeat: 'Watchdog',
        silence: 'no Watchdog heartbeat for 11 min',
        page,
        now: NOW,
      });
      expectWithinLimits(m);
      expect(m.text).toBe(
        '🚨 Alerting pipeline broken: no Watchdog heartbeat for 11 min. Other alerts may not be reaching anyone.',
      );
    }
    const none = watchdogMissingMessage({
      heartbeat: 'Watchdog',
      silence: 's',
      page: { kind: 'not-configured' },
      now: NOW,
    });
    expect(allText(none)).toContain('Nobody was paged');
  });

  it('back: how long it lasted and the page resolved', () => {
    const m = watchdogBackMessage({
      heartbeat: 'Watchdog',
      outageStartedAt: new Date(NOW.getTime() - 25 * 60_000),
      now: NOW,
      resolved: 'resolved',
    });
    expectWithinLimits(m);
    expect(m.text).toBe(
      '✅ Alerting pipeline back: the Watchdog heartbeat arrives again after 25 min (missing since 07:35 UTC).',
    );
    expect(allText(m)).toContain('The PagerDuty alert is resolved.');
  });
});
