import type { HeaderBlock, KnownBlock, SectionBlock } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { digestMessage } from '../../src/bot/blocks/digest-message.js';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import type { IncidentView } from '../../src/bot/blocks/view.js';
import { SEVERITIES } from '../../src/incidents/runbook.js';

const NOW = new Date('2026-11-27T21:50:00.000Z');
const SINCE = new Date('2026-11-27T21:42:00.000Z');

function incident(i: number, over: Partial<IncidentView> = {}): IncidentView {
  return {
    key: `QNWIS-${100 + i}`,
    alertname: 'LowCacheHitRate',
    severity: 'SEV-3',
    status: 'firing',
    summary: '',
    description: '',
    hosts: { firing: ['app-01'], resolved: [] },
    alerts: { firing: 1, resolved: 0 },
    openedAt: new Date(SINCE.getTime() + i * 10_000),
    resolvedAt: null,
    acknowledgedBy: null,
    runbookSection: '',
    links: { graph: null, silence: null, pagerduty: null, alertmanager: null },
    nextEscalation: null,
    diagnosis: null,
    proposedActions: [],
    ...over,
  };
}

const header = (blocks: KnownBlock[]) => (blocks[0] as HeaderBlock).text.text;
const sectionTexts = (blocks: KnownBlock[]) =>
  blocks.filter((b): b is SectionBlock => b.type === 'section').map((b) => b.text?.text ?? '');
/** The incident lines, in order (every line ends with the incident key). */
const listed = (blocks: KnownBlock[]) =>
  sectionTexts(blocks)
    .slice(1)
    .flatMap((t) => t.split('\n'))
    .filter((l) => / · QNWIS-\d+$/.test(l));

const storm = (): IncidentView[] => [
  incident(0),
  incident(1, {
    severity: 'SEV-1',
    alertname: 'DatabaseDown',
    hosts: { firing: ['db-primary'], resolved: [] },
  }),
  incident(2, {
    status: 'resolved',
    hosts: { firing: [], resolved: ['app-02'] },
    alerts: { firing: 0, resolved: 1 },
    resolvedAt: new Date('2026-11-27T21:47:00.000Z'),
  }),
  incident(3, {
    severity: 'SEV-2',
    alertname: 'HighErrorRate',
    status: 'acknowledged',
    acknowledgedBy: 'Jane Doe',
    hosts: { firing: ['app-01', 'app-02', 'app-03'], resolved: [] },
  }),
  incident(4, { severity: 'SEV-4', alertname: 'HighMemoryUsage', hosts: { firing: [], resolved: [] } }),
  incident(5, {
    severity: 'SEV-1',
    alertname: 'ServiceDown',
    hosts: { firing: ['app-01', 'app-02'], resolved: [] },
  }),
];

describe('digestMessage', () => {
  it('renders a storm digest', () => {
    expect(
      digestMessage({ channel: '#qnwis-alerts', incidents: storm(), since: SINCE, now: NOW }),
    ).toMatchSnapshot();
  });

  it('says where, how many and since when in the header and the notification', () => {
    const { blocks, text } = digestMessage({ channel: 'ops', incidents: storm(), since: SINCE, now: NOW });
    expect(header(blocks)).toBe('⚠️ Alert storm in #ops: 6 incidents since 21:42 UTC');
    expect(text).toBe(
      'Alert storm in #ops: 6 incidents since 21:42 UTC (SEV-1: 2 · SEV-2: 1 · SEV-3: 2 · SEV-4: 1; 4 firing · 1 acknowledged · 1 resolved)',
    );
  });

  it('counts by severity and status', () => {
    const { blocks } = digestMessage({ channel: '#ops', incidents: storm(), since: SINCE, now: NOW });
    expect(sectionTexts(blocks)[0]).toBe(
      '*By severity:* SEV-1: 2 · SEV-2: 1 · SEV-3: 2 · SEV-4: 1\n*By status:* 4 firing · 1 acknowledged · 1 resolved',
    );
  });

  it('lists the most severe first, newest first within a severity, resolved ones struck through', () => {
    const { blocks } = digestMessage({ channel: '#ops', incidents: storm(), since: SINCE, now: NOW });
    expect(listed(blocks)).toEqual([
      '🔴 *SEV-1* · ServiceDown · app-01 +1 · firing 7 min · QNWIS-105',
      '🔴 *SEV-1* · DatabaseDown · db-primary · firing 7 min · QNWIS-101',
      '👀 *SEV-2* · HighErrorRate · app-01 +2 · acknowledged · open 7 min · QNWIS-103',
      '🟡 *SEV-3* · LowCacheHitRate · app-01 · firing 8 min · QNWIS-100',
      '✅ ~SEV-3 · LowCacheHitRate · app-02 · resolved after 4 min~ · QNWIS-102',
      '🔵 *SEV-4* · HighMemoryUsage · firing 7 min · QNWIS-104',
    ]);
  });

  it('stays within Slack limits for 300 incidents and says how many more there are', () => {
    const many = Array.from({ length: 300 }, (_, i) =>
      incident(i, {
        severity: SEVERITIES[i % 4],
        status: i % 5 === 0 ? 'resolved' : 'firing',
        resolvedAt: null,
      }),
    );
    const message = digestMessage({ channel: '#ops', incidents: many, since: SINCE, now: NOW });
    expect(checkSlackLimits(message)).toEqual([]);
    expect(message.blocks.length).toBeLessThanOrEqual(40);
    expect(JSON.stringify(message.blocks).length).toBeLessThanOrEqual(11_000);
    const shown = listed(message.blocks);
    expect(shown.length).toBeGreaterThan(50);
    expect(shown.length).toBeLessThan(300);
    const more = sectionTexts(message.blocks).at(-1) ?? '';
    expect(more).toMatch(new RegExp(`^…and ${300 - shown.length} more \\(`));
    expect(header(message.blocks)).toBe('⚠️ Alert storm in #ops: 300 incidents since 21:42 UTC');
    // Every SEV-1 comes before any SEV-2, and so on.
    const sevs = shown.map((l) => /SEV-\d/.exec(l)?.[0] ?? '');
    expect([...sevs].sort()).toEqual(sevs);
    expect(sevs[0]).toBe('SEV-1');
  });

  it('stays within Slack limits for 1000 incidents with extreme names', () => {
    const many = Array.from({ length: 1000 }, (_, i) =>
      incident(i, {
        key: `QNWIS-${'9'.repeat(200)}${i}`,
        severity: SEVERITIES[i % 4],
        alertname: `${'Very"Long<Alert>&Name\\'.repeat(40)}${i}`,
        hosts: { firing: Array.from({ length: 100 }, (_, h) => `${'h'.repeat(300)}${h}`), resolved: [] },
      }),
    );
    const message = digestMessage({
      channel: `#${'c'.repeat(500)}`,
      incidents: many,
      since: SINCE,
      now: NOW,
    });
    expect(checkSlackLimits(message)).toEqual([]);
    expect(message.blocks.length).toBeLessThanOrEqual(40);
    expect(JSON.stringify(message).includes('<Alert>')).toBe(false);
    expect(sectionTexts(message.blocks).at(-1)).toMatch(/^…and \d+ more/);
  });

  it('shows everything when it fits, with no "more" line', () => {
    const message = digestMessage({ channel: '#ops', incidents: storm(), since: SINCE, now: NOW });
    expect(JSON.stringify(message.blocks)).not.toContain('…and');
    expect(checkSlackLimits(message)).toEqual([]);
  });

  it('renders an empty digest validly', () => {
    const message = digestMessage({ channel: '#ops', incidents: [], since: SINCE, now: NOW });
    expect(header(message.blocks)).toBe('⚠️ Alert storm in #ops: 0 incidents since 21:42 UTC');
    expect(checkSlackLimits(message)).toEqual([]);
  });
});
