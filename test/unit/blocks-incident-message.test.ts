import type { ActionsBlock, Button, HeaderBlock, KnownBlock, SectionBlock } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { INCIDENT_LINK_ACTIONS, incidentMessage } from '../../src/bot/blocks/incident-message.js';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import { type IncidentView, silenceUrl } from '../../src/bot/blocks/view.js';
import { SEVERITY_REQUIREMENTS } from '../../src/incidents/runbook.js';

const NOW = new Date('2026-11-27T21:47:00.000Z');
const OPENED = new Date('2026-11-27T21:42:00.000Z');

function view(over: Partial<IncidentView> = {}): IncidentView {
  return {
    key: 'QNWIS-42',
    alertname: 'DatabaseDown',
    severity: 'SEV-1',
    status: 'firing',
    summary: 'PostgreSQL primary is down',
    description:
      'pg_up has been 0 on db-primary for more than 1 minute. Check `systemctl status postgresql`.',
    hosts: { firing: ['db-primary'], resolved: [] },
    alerts: { firing: 1, resolved: 0 },
    openedAt: OPENED,
    resolvedAt: null,
    acknowledgedBy: null,
    runbookSection: 'Common Operational Tasks › Database Operations; Disaster Recovery',
    links: {
      graph: 'http://127.0.0.1:9090/graph?g0.expr=pg_up%20%3D%3D%200',
      silence: silenceUrl('http://127.0.0.1:9093', { alertname: 'DatabaseDown' }),
      pagerduty: 'https://qnwis.pagerduty.com/incidents/Q1W2E3R4',
      alertmanager: 'http://127.0.0.1:9093',
    },
    nextEscalation: 'escalates to Senior SRE + Dev Lead at 22:12 UTC',
    diagnosis: null,
    proposedActions: [],
    ...over,
  };
}

const acknowledged = (): IncidentView =>
  view({ status: 'acknowledged', acknowledgedBy: 'Jane Doe (PagerDuty)' });
const resolved = (): IncidentView =>
  view({
    status: 'resolved',
    hosts: { firing: [], resolved: ['db-primary'] },
    alerts: { firing: 0, resolved: 1 },
    resolvedAt: new Date('2026-11-27T21:54:00.000Z'),
    nextEscalation: null,
  });

const headerText = (blocks: KnownBlock[]) =>
  (blocks.find((b) => b.type === 'header') as HeaderBlock).text.text;
/** The link buttons (the controls and proposed fixes have their own tests). */
const buttons = (blocks: KnownBlock[]): Button[] =>
  blocks
    .filter((b): b is ActionsBlock => b.type === 'actions')
    .flatMap((b) => b.elements as Button[])
    .filter((e) => e.action_id?.startsWith('incident.link.'));
const allText = (blocks: KnownBlock[]) => JSON.stringify(blocks);

describe('incidentMessage', () => {
  it('renders a firing incident', () => {
    expect(incidentMessage(view(), NOW)).toMatchSnapshot();
  });

  it('renders an acknowledged incident', () => {
    expect(incidentMessage(acknowledged(), NOW)).toMatchSnapshot();
  });

  it('renders a resolved incident', () => {
    expect(incidentMessage(resolved(), NOW)).toMatchSnapshot();
  });

  it('heads the message with the status emoji, severity and alert name', () => {
    expect(headerText(incidentMessage(view(), NOW).blocks)).toBe('🔴 SEV-1 · DatabaseDown');
    expect(
      headerText(incidentMessage(view({ severity: 'SEV-2', alertname: 'HighErrorRate' }), NOW).blocks),
    ).toBe('🟠 SEV-2 · HighErrorRate');
    expect(headerText(incidentMessage(acknowledged(), NOW).blocks)).toBe('👀 SEV-1 · DatabaseDown');
    expect(headerText(incidentMessage(resolved(), NOW).blocks)).toBe(
      '✅ SEV-1 · DatabaseDown · resolved after 12 min',
    );
  });

  it('says who acknowledged it', () => {
    const { blocks, text } = incidentMessage(acknowledged(), NOW);
    expect(allText(blocks)).toContain('*ACKNOWLEDGED* by Jane Doe (PagerDuty)');
    expect(text).toContain('ACKNOWLEDGED');
  });

  it('shows how long a resolved incident lasted, in the header area and the notification', () => {
    const { blocks, text } = incidentMessage(resolved(), NOW);
    expect(allText(blocks)).toContain('*RESOLVED* after 12 min');
    expect(allText(blocks)).toContain('21:42 UTC → 21:54 UTC');
    expect(text).toBe('SEV-1 DatabaseDown RESOLVED after 12 min on db-primary — PostgreSQL primary is down');
  });

  it('gives the notification text severity, alert, state, hosts and summary', () => {
    const { text } = incidentMessage(view(), NOW);
    expect(text).toBe('SEV-1 DatabaseDown FIRING on db-primary — PostgreSQL primary is down');
    const many = incidentMessage(
      view({ hosts: { firing: ['app-01', 'app-02', 'app-03', 'app-04'], resolved: [] } }),
      NOW,
    );
    expect(many.text).toContain('FIRING on app-01, app-02, app-03 +1 —');
  });

  it('drops the silence button once resolved', () => {
    const firingIds = buttons(incidentMessage(view(), NOW).blocks).map((b) => b.action_id);
    expect(firingIds).toContain(INCIDENT_LINK_ACTIONS.silence);
    const resolvedIds = buttons(incidentMessage(resolved(), NOW).blocks).map((b) => b.action_id);
    expect(resolvedIds).not.toContain(INCIDENT_LINK_ACTIONS.silence);
    expect(resolvedIds).toContain(INCIDENT_LINK_ACTIONS.graph);
  });

  it('shows the PagerDuty button only with a PagerDuty link', () => {
    const withPd = buttons(incidentMessage(view(), NOW).blocks);
    expect(withPd.find((b) => b.action_id === INCIDENT_LINK_ACTIONS.pagerduty)?.url).toBe(
      'https://qnwis.pagerduty.com/incidents/Q1W2E3R4',
    );
    const withoutPd = buttons(
      incidentMessage(view({ links: { ...view().links, pagerduty: null } }), NOW).blocks,
    );
    expect(withoutPd.map((b) => b.action_id)).not.toContain(INCIDENT_LINK_ACTIONS.pagerduty);
  });

  it('makes link buttons only for usable links, each with a unique action_id and its url', () => {
    const all = buttons(incidentMessage(view(), NOW).blocks);
    expect(all.map((b) => [b.action_id, b.text.text])).toEqual([
      ['incident.link.graph', 'Prometheus graph'],
      ['incident.link.silence', 'Silence'],
      ['incident.link.pagerduty', 'PagerDuty incident'],
      ['incident.link.alertmanager', 'Alertmanager'],
    ]);
    expect(all.every((b) => typeof b.url === 'string' && b.url.startsWith('http'))).toBe(true);

    const none = incidentMessage(
      view({ links: { graph: null, silence: null, pagerduty: '', alertmanager: 'javascript:alert(1)' } }),
      NOW,
    );
    expect(buttons(none.blocks)).toEqual([]);
    expect(checkSlackLimits(none)).toEqual([]);
  });

  it('escapes alert-provided text so it cannot mention, link or inject markup', () => {
    const hostile = view({
      alertname: 'Evil<!here>',
      summary: '<script>alert(1)</script> <!channel> & <@U123|boss>',
      description: 'see <http://evil.example|this> & <!subteam^S1>',
      hosts: { firing: ['<!everyone>'], resolved: [] },
      runbookSection: '<http://x|click>',
      acknowledgedBy: '<@U999>',
      status: 'acknowledged',
    });
    const { text, blocks } = incidentMessage(hostile, NOW);
    for (const out of [text, allText(blocks)]) {
      expect(out).not.toMatch(/<!|<@|<http|<script/);
    }
    // plain_text (the header) gets look-alikes instead of entities.
    expect(headerText(blocks)).toBe('👀 SEV-1 · Evil＜!here＞');
    expect(allText(blocks)).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &amp; &lt;@U123|boss&gt;',
    );
    expect(text).toContain('&lt;!channel&gt;');
  });

  it('states what the runbook requires for the severity, and the next escalation', () => {
    const context = allText(incidentMessage(view(), NOW).blocks.filter((b) => b.type === 'context'));
    expect(context).toContain(SEVERITY_REQUIREMENTS['SEV-1'].response);
    expect(context).toContain(SEVERITY_REQUIREMENTS['SEV-1'].escalation);
    expect(context).toContain('escalates to Senior SRE + Dev Lead at 22:12 UTC');
    expect(context).toContain('Acknowledge by 21:57 UTC');

    const late = allText(incidentMessage(view(), new Date('2026-11-27T22:05:00.000Z')).blocks);
    expect(late).toContain('Not acknowledged after 23 min (runbook: within 15 min)');

    const sev3 = allText(incidentMessage(view({ severity: 'SEV-3', nextEscalation: null }), NOW).blocks);
    expect(sev3).toContain(SEVERITY_REQUIREMENTS['SEV-3'].response);
    expect(sev3).not.toContain('⏱');

    const after = allText(incidentMessage(resolved(), NOW).blocks);
    expect(after).toContain('Post-mortem due by 29 Nov 21:54 UTC');
  });

  it('shows firing hosts in bold and resolved ones struck through', () => {
    const { blocks } = incidentMessage(
      view({
        hosts: { firing: ['app-01', 'app-03'], resolved: ['app-02'] },
        alerts: { firing: 2, resolved: 1 },
      }),
      NOW,
    );
    expect(allText(blocks)).toContain('*Affected hosts*\\n*app-01*, *app-03*, ~app-02~');
    expect(allText(blocks)).toContain('2 firing, 1 resolved');
  });

  it('says when the incident started, relative and in UTC', () => {
    expect(allText(incidentMessage(view(), NOW).blocks)).toContain('*Firing since*\\n5 min ago · 21:42 UTC');
    const yesterday = incidentMessage(view({ openedAt: new Date('2026-11-26T23:10:00.000Z') }), NOW);
    expect(allText(yesterday.blocks)).toContain('22 h 37 min ago · 26 Nov 23:10 UTC');
  });

  it('truncates a long description within the section limit', () => {
    const { blocks } = incidentMessage(view({ description: 'x&y '.repeat(2500) }), NOW);
    const details = blocks.find((b) => b.type === 'section' && allText([b]).includes('truncated'));
    expect(details).toBeDefined();
    const text = (details as { text: { text: string } }).text.text;
    expect(text.length).toBeLessThanOrEqual(3000);
    expect(text.startsWith('*PostgreSQL primary is down*\n')).toBe(true);
    expect(text).toMatch(/…\n_\(description truncated\)_$/);
    expect(text).not.toMatch(/&[a-z]*…/); // no half entity before the ellipsis
  });

  it('leaves out the details section when there is neither summary nor description', () => {
    const { blocks } = incidentMessage(view({ summary: '', description: '  ' }), NOW);
    expect(blocks.map((b) => b.type)).toEqual([
      'header',
      'section',
      'section',
      'context',
      'actions',
      'actions',
    ]);
    expect(checkSlackLimits({ blocks })).toEqual([]);
  });
});

describe('incidentMessage within Slack limits', () => {
  const longLabel = (p: string, n: number) => `${p}-${'ü'.repeat(n)}`;
  const extreme = (status: IncidentView['status']): IncidentView =>
    view({
      status,
      key: `QNWIS-${'9'.repeat(300)}`,
      alertname: longLabel('VeryLongAlertName<&>', 600),
      summary: `<!channel> ${'s&'.repeat(3000)}`,
      description: `${'line with "quotes" and \\backslashes\\ & <tags>\n'.repeat(200)}\u0007\u0000`.slice(
        0,
        10_240,
      ),
      hosts: {
        firing: Array.from({ length: 100 }, (_, i) => longLabel(`app-${i}`, 120)),
        resolved: Array.from({ length: 100 }, (_, i) => longLabel(`db-${i}`, 120)),
      },
      alerts: { firing: 100, resolved: 100 },
      acknowledgedBy: status === 'acknowledged' ? 'J'.repeat(2000) : null,
      runbookSection: 'R&'.repeat(2000),
      nextEscalation: status === 'resolved' ? null : 'E'.repeat(5000),
      resolvedAt: status === 'resolved' ? NOW : null,
      openedAt: new Date('2026-10-01T00:00:00.000Z'),
      links: {
        graph: `http://127.0.0.1:9090/graph?g0.expr=${'a'.repeat(2900)}`,
        silence: silenceUrl('http://127.0.0.1:9093', { alertname: 'x'.repeat(500), host: 'h"'.repeat(200) }),
        pagerduty: `https://qnwis.pagerduty.com/incidents/${'P'.repeat(2900)}`,
        alertmanager: `http://127.0.0.1:9093/${'m'.repeat(2950)}`,
      },
    });

  it.each(['firing', 'acknowledged', 'resolved'] as const)(
    'keeps a %s incident with extreme inputs valid',
    (status) => {
      const message = incidentMessage(extreme(status), NOW);
      expect(checkSlackLimits(message)).toEqual([]);
      expect(headerText(message.blocks).length).toBeLessThanOrEqual(150);
      expect(message.text.length).toBeLessThanOrEqual(300);
      expect(allText(message.blocks)).not.toContain('<!channel>');
    },
  );

  it('keeps the normal inputs valid too', () => {
    for (const v of [view(), acknowledged(), resolved()])
      expect(checkSlackLimits(incidentMessage(v, NOW))).toEqual([]);
  });

  it('keeps link buttons when only the description is long', () => {
    const message = incidentMessage(view({ description: 'd'.repeat(10_240) }), NOW);
    expect(buttons(message.blocks)).toHaveLength(4);
    expect(checkSlackLimits(message)).toEqual([]);
  });

  it('never uses a link longer than Slack accepts', () => {
    const message = incidentMessage(
      view({ links: { ...view().links, graph: `http://x/${'g'.repeat(3000)}` } }),
      NOW,
    );
    expect(buttons(message.blocks).map((b) => b.action_id)).not.toContain(INCIDENT_LINK_ACTIONS.graph);
  });
});

describe('incidentMessage with a diagnosis', () => {
  const diagnosed = () =>
    view({
      diagnosis: "app-02: 412 ERROR lines, top: 'connection pool exhausted' ×300; DB connections 95/100",
      proposedActions: [
        {
          command: 'restart',
          target: 'app-02',
          label: 'Restart qnwis on app-02',
          description: 'x',
          style: 'primary',
        },
      ],
    });

  it('shows the verdict and the proposed fixes as buttons carrying what they would do', () => {
    const blocks = incidentMessage(diagnosed(), NOW).blocks;
    expect(JSON.stringify(blocks)).toContain('*Diagnosis:* app-02: 412 ERROR lines');
    const proposed = blocks.find((b) => b.block_id === 'incident.proposed');
    expect(proposed).toMatchObject({
      type: 'actions',
      elements: [
        { action_id: 'incident.propose.0', text: { text: 'Restart qnwis on app-02' }, style: 'primary' },
      ],
    });
    const value = JSON.parse((proposed as { elements: { value: string }[] }).elements[0]?.value ?? '{}');
    expect(value).toEqual({ key: 'QNWIS-42', command: 'restart', target: 'app-02' });
    expect(checkSlackLimits(incidentMessage(diagnosed(), NOW))).toEqual([]);
  });

  it('drops the proposed fixes once resolved, keeps the verdict', () => {
    const blocks = incidentMessage({ ...diagnosed(), status: 'resolved', resolvedAt: NOW }, NOW).blocks;
    expect(blocks.find((b) => b.block_id === 'incident.proposed')).toBeUndefined();
    expect(JSON.stringify(blocks)).toContain('*Diagnosis:*');
  });
});

describe('incidentMessage: who answers', () => {
  const responders = { titles: 'On-call engineer', mentions: ['<!subteam^S0ONCALL01>', '<!channel>'] };
  const statusText = (v: IncidentView) =>
    ((incidentMessage(v, NOW).blocks[1] as SectionBlock).text as { text: string }).text;

  it('names and mentions the first responders while nobody has acknowledged', () => {
    const text = statusText(view({ responders }));
    expect(text).toContain('answers: On-call engineer <!subteam^S0ONCALL01>');
    // Only user and user-group mentions: never a broadcast.
    expect(text).not.toContain('<!channel>');
  });

  it('stops mentioning once acknowledged or resolved', () => {
    expect(statusText(view({ responders, status: 'acknowledged', acknowledgedBy: 'Omar' }))).not.toContain(
      'answers',
    );
    expect(statusText(view({ responders, status: 'resolved', resolvedAt: NOW }))).not.toContain('answers');
  });
});
