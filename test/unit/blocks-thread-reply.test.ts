import { describe, expect, it } from 'vitest';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import { type ThreadEvent, threadReply } from '../../src/bot/blocks/thread-reply.js';
import type { IncidentView } from '../../src/bot/blocks/view.js';

const NOW = new Date('2026-11-27T21:56:00.000Z');

function view(over: Partial<IncidentView> = {}): IncidentView {
  return {
    key: 'QNWIS-7',
    alertname: 'ServiceDown',
    severity: 'SEV-3',
    status: 'firing',
    summary: 'qnwis-api is down on app-01',
    description: '',
    hosts: { firing: ['app-01', 'app-02', 'app-03'], resolved: [] },
    alerts: { firing: 3, resolved: 0 },
    openedAt: new Date('2026-11-27T21:42:00.000Z'),
    resolvedAt: null,
    acknowledgedBy: null,
    runbookSection: 'Common Operational Tasks › Checking System Status / Restarting Services',
    links: { graph: null, silence: null, pagerduty: null, alertmanager: null },
    nextEscalation: null,
    diagnosis: null,
    proposedActions: [],
    ...over,
  };
}

const text = (event: ThreadEvent, v: IncidentView = view()) => threadReply(event, v, NOW)?.text;

describe('threadReply', () => {
  it('posts nothing for the opening: the top-level message says it', () => {
    expect(threadReply({ kind: 'opened', severity: 'SEV-3' }, view(), NOW)).toBeNull();
  });

  it('tells when a host joins or fires again', () => {
    expect(
      text({ kind: 'alert_firing', fingerprint: 'f3', host: 'app-03', refired: false }),
    ).toMatchInlineSnapshot(`"➕ app-03 joined (ServiceDown firing on 3 hosts)"`);
    expect(
      text({ kind: 'alert_firing', fingerprint: 'f3', host: 'app-03', refired: true }),
    ).toMatchInlineSnapshot(`"🔁 app-03 firing again (ServiceDown firing on 3 hosts)"`);
    expect(
      text(
        { kind: 'alert_firing', fingerprint: 'f9', host: null, refired: false },
        view({ hosts: { firing: [], resolved: [] }, alerts: { firing: 2, resolved: 0 } }),
      ),
    ).toMatchInlineSnapshot(`"➕ Another alert joined (ServiceDown: 2 alerts firing)"`);
  });

  it('tells when a host resolves', () => {
    const after = view({
      hosts: { firing: ['app-01', 'app-03'], resolved: ['app-02'] },
      alerts: { firing: 2, resolved: 1 },
    });
    expect(text({ kind: 'alert_resolved', fingerprint: 'f2', host: 'app-02' }, after)).toMatchInlineSnapshot(
      `"✅ app-02 resolved (ServiceDown still firing on 2 hosts)"`,
    );
    const last = view({
      status: 'resolved',
      hosts: { firing: [], resolved: ['app-01'] },
      alerts: { firing: 0, resolved: 1 },
      resolvedAt: NOW,
    });
    expect(text({ kind: 'alert_resolved', fingerprint: 'f1', host: 'app-01' }, last)).toMatchInlineSnapshot(
      `"✅ app-01 resolved"`,
    );
  });

  it('tells severity changes with the runbook response', () => {
    const up = view({ severity: 'SEV-1' });
    expect(text({ kind: 'severity_changed', from: 'SEV-3', to: 'SEV-1' }, up)).toMatchInlineSnapshot(
      `"⬆️ Severity raised SEV-3 → SEV-1: ServiceDown firing on 3 hosts. Runbook: Page now, all hands"`,
    );
    expect(text({ kind: 'severity_changed', from: 'SEV-1', to: 'SEV-3' })).toMatchInlineSnapshot(
      `"⬇️ Severity lowered SEV-1 → SEV-3: ServiceDown firing on 3 hosts. Runbook: Slack alert; resolve within 4 hours"`,
    );
  });

  it('tells the incident is resolved and after how long', () => {
    const done = view({ status: 'resolved', resolvedAt: NOW, alerts: { firing: 0, resolved: 3 } });
    expect(text({ kind: 'resolved' }, done)).toBe('✅ Incident resolved after 14 min');
  });

  it('tells who acknowledged it, and where', () => {
    expect(text({ kind: 'acknowledged', by: 'Jane Doe', source: 'pagerduty' })).toBe(
      '👀 Acknowledged in PagerDuty by Jane Doe',
    );
    expect(text({ kind: 'acknowledged', by: 'Omar', source: 'slack' })).toBe(
      '👀 Acknowledged in Slack by Omar',
    );
  });

  it('relays PagerDuty escalations, reassignments and notes', () => {
    expect(
      threadReply({ kind: 'escalated', by: 'PagerDuty', detail: 'to Senior SRE (level 2)' }, view(), NOW),
    ).toMatchInlineSnapshot(`
      {
        "blocks": [
          {
            "text": {
              "text": "🔺 Escalated in PagerDuty: to Senior SRE (level 2)",
              "type": "mrkdwn",
              "verbatim": true,
            },
            "type": "section",
          },
        ],
        "text": "🔺 Escalated in PagerDuty: to Senior SRE (level 2)",
      }
    `);
    expect(text({ kind: 'reassigned', by: 'Jane Doe', detail: 'to Omar Ali' })).toMatchInlineSnapshot(
      `"👤 Reassigned in PagerDuty by Jane Doe: to Omar Ali"`,
    );
    expect(
      threadReply(
        { kind: 'annotated', by: 'Jane Doe', detail: 'Restarted pgbouncer.\nWatching.' },
        view(),
        NOW,
      ),
    ).toMatchInlineSnapshot(`
      {
        "blocks": [
          {
            "text": {
              "text": "📝 Note from Jane Doe:
      Restarted pgbouncer.
      Watching.",
              "type": "mrkdwn",
              "verbatim": true,
            },
            "type": "section",
          },
        ],
        "text": "📝 Note from Jane Doe: Restarted pgbouncer. Watching.",
      }
    `);
  });

  it('escapes what people and alerts wrote', () => {
    const reply = threadReply(
      { kind: 'annotated', by: '<@U1>', detail: '<!channel> see <http://x|here> & @here' },
      view(),
      NOW,
    );
    const all = JSON.stringify(reply);
    expect(all).not.toMatch(/<!|<@|<http/);
    expect(reply?.text).toBe(
      '📝 Note from &lt;@U1&gt;: &lt;!channel&gt; see &lt;http://x|here&gt; &amp; @here',
    );
    expect(text({ kind: 'alert_firing', fingerprint: 'f', host: '<!here>', refired: false })).toContain(
      '&lt;!here&gt;',
    );
  });

  it('stays within Slack limits for huge notes and names', () => {
    const huge = 'n<&>\n'.repeat(5000);
    const events: ThreadEvent[] = [
      { kind: 'annotated', by: 'B'.repeat(5000), detail: huge },
      { kind: 'escalated', by: '', detail: huge },
      { kind: 'reassigned', by: 'x', detail: '' },
      { kind: 'acknowledged', by: 'A'.repeat(5000), source: 'slack' },
      { kind: 'alert_firing', fingerprint: 'f', host: 'h'.repeat(5000), refired: false },
      { kind: 'severity_changed', from: 'SEV-4', to: 'SEV-2' },
    ];
    const longView = view({
      alertname: 'N'.repeat(5000),
      hosts: { firing: ['a'.repeat(5000)], resolved: [] },
    });
    for (const event of events) {
      const reply = threadReply(event, longView, NOW);
      expect(reply).not.toBeNull();
      if (!reply) continue;
      expect(checkSlackLimits(reply)).toEqual([]);
      expect(reply.text.length).toBeLessThanOrEqual(500);
    }
  });
});

describe('threadReply: the runbook clock and people acting on it', () => {
  const clock = (over: Partial<Extract<ThreadEvent, { kind: 'escalation_timer' }>> = {}): ThreadEvent => ({
    kind: 'escalation_timer',
    timer: 'escalation',
    message:
      'Not resolved 30 min after it opened: escalating to Senior SRE + Dev Lead (escalation matrix, SEV-1 step 1)',
    mentions: ['<!subteam^S0SRE00001>', '<@U0DEVLEAD1>'],
    page: true,
    pagerDutyLevel: 3,
    ...over,
  });

  it('an escalation says who, that it pages, and mentions them', () => {
    expect(text(clock())).toBe(
      '🔺 Not resolved 30 min after it opened: escalating to Senior SRE + Dev Lead (escalation matrix, SEV-1 step 1) · paging PagerDuty level 3 <!subteam^S0SRE00001> <@U0DEVLEAD1>',
    );
  });

  it('a reminder is a clock, never a page', () => {
    const t = text(
      clock({
        timer: 'ack-reminder',
        message: 'Not acknowledged 10 min after it opened',
        page: false,
        pagerDutyLevel: null,
        mentions: ['<!subteam^S0ONCALL01>'],
      }),
    );
    expect(t).toBe('⏰ Not acknowledged 10 min after it opened <!subteam^S0ONCALL01>');
  });

  it('only well-formed mentions pass unescaped; markup in the message is escaped', () => {
    const t =
      text(
        clock({
          message: 'x <!channel> & *bold*',
          mentions: ['<!channel>', '<@U0SRE00001>', '<!subteam^bad handle>'],
        }),
      ) ?? '';
    expect(t).toContain('&lt;!channel&gt; &amp;');
    expect(t).toMatch(/<@U0SRE00001>$/);
    expect(t).not.toMatch(/[^;]<!channel>/);
    expect(t).not.toContain('bad handle');
  });

  it('mentions survive a message cut to the length limit', () => {
    const t = text(clock({ message: 'y'.repeat(2000) })) ?? '';
    expect(t.length).toBeLessThanOrEqual(500);
    expect(t.endsWith('<!subteam^S0SRE00001> <@U0DEVLEAD1>')).toBe(true);
  });

  it('resolve by hand carries the note; snooze says escalations go on', () => {
    expect(text({ kind: 'resolved_by_hand', by: 'Sara Nasser', note: 'disk freed, alert lagging' })).toBe(
      '✅ Resolved by hand by Sara Nasser: disk freed, alert lagging',
    );
    expect(text({ kind: 'snoozed', by: 'Omar Haddad', until: '2026-11-27T22:26:00.000Z' })).toBe(
      '😴 Reminders snoozed until 22:26 UTC by Omar Haddad (escalations go on)',
    );
  });
});
