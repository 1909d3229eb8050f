import { describe, expect, it } from 'vitest';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import { postmortemReply } from '../../src/bot/commands/blocks/postmortem.js';
import type { AlertState } from '../../src/incidents/incident.js';
import {
  MAX_TIMELINE_ROWS,
  type PostmortemCommand,
  type PostmortemEvent,
  type PostmortemInput,
  postmortemDraft,
  postmortemFilename,
  responseStages,
  slackToPlain,
} from '../../src/incidents/postmortem.js';

const T0 = Date.parse('2026-11-27T21:00:00.000Z');
const at = (min: number, sec = 0) => new Date(T0 + min * 60_000 + sec * 1000);

const ONCALL = { id: 'U0ONCALL01', name: 'oncall', level: 'L1' };
const SRE = { id: 'U0SRE00001', name: 'sre', level: 'L2' };

const alert: AlertState = {
  fingerprint: 'fp-app02',
  status: 'resolved',
  labels: { alertname: 'ServiceDown', host: 'app-02', severity: 'critical' },
  annotations: { summary: 'qnwis is down on app-02' },
  startsAt: at(0).toISOString(),
  endsAt: at(8).toISOString(),
  generatorURL: 'http://127.0.0.1:9090/graph',
};

function ev(
  min: number,
  sec: number,
  kind: string,
  actor: string | null,
  data: Record<string, unknown> = {},
): PostmortemEvent {
  return { at: at(min, sec), kind, actor, data };
}

const restart: PostmortemCommand = {
  id: 'R-7K2M9XD4',
  command: 'restart',
  summary: 'restart app-02',
  risk: 'low',
  destructive: false,
  breakGlass: false,
  requester: ONCALL,
  requestedAt: at(5),
  approvals: [{ ...SRE, at: at(6) }],
  approvedAt: at(6),
  startedAt: at(6, 2),
  finishedAt: at(6, 20),
  state: 'succeeded',
  stateDetail: 'qnwis restarted on app-02 (MainPID 4242 → 5151), /health ok',
  steps: [
    { stepId: 'record-pid', status: 'done', detail: '4242', at: at(6, 3).toISOString() },
    { stepId: 'restart', status: 'done', detail: 'ok', at: at(6, 10).toISOString() },
    { stepId: 'health-gate', status: 'done', detail: 'ok', at: at(6, 19).toISOString() },
  ],
  verification: { ok: true, detail: 'healthy', before: 'MainPID 4242', after: 'MainPID 5151' },
  trail: [
    { kind: 'request', at: at(5), actor: ONCALL, summary: 'requested restart app-02' },
    { kind: 'approval', at: at(6), actor: SRE, summary: 'approved restart app-02' },
    { kind: 'start', at: at(6, 2), actor: null, summary: 'started restart app-02' },
    { kind: 'step', at: at(6, 10), actor: null, summary: 'restart: done' },
    { kind: 'result', at: at(6, 20), actor: null, summary: 'restart app-02: succeeded: qnwis restarted' },
  ],
};

function input(over: Partial<PostmortemInput> = {}): PostmortemInput {
  return {
    incident: {
      key: 'QNWIS-7',
      alertname: 'ServiceDown',
      severity: 'SEV-3',
      status: 'resolved',
      channel: 'qnwis-alerts',
      openedAt: at(0),
      acknowledgedAt: at(4),
      acknowledgedBy: 'U0ONCALL01',
      diagnosedAt: at(1, 10),
      diagnosisVerdict: 'app-02: qnwis inactive (dead) since 21:00:00',
      resolvedAt: at(8, 30),
      slackPermalink: 'http://127.0.0.1:3100/archives/C0QNWISALR/p1',
      pdHtmlUrl: null,
    },
    alerts: [alert],
    timeline: [
      ev(0, 31, 'opened', 'alertmanager', { severity: 'SEV-3' }),
      ev(0, 31, 'alert_firing', 'alertmanager', { fingerprint: 'fp-app02', host: 'app-02', refired: false }),
      ev(1, 10, 'diagnosed', 'playbook', {
        playbook: 'service-down',
        runbook: 'Checking System Status',
        verdict: 'app-02: qnwis inactive (dead) since 21:00:00',
        durationMs: 2100,
        actions: [],
        results: [
          {
            diagnostic: 'service-status',
            target: 'app-02',
            status: 'error',
            summary: 'inactive (dead)',
            durationMs: 300,
          },
          {
            diagnostic: 'health',
            target: 'app-02',
            status: 'unreachable',
            error: 'connection refused',
            durationMs: 5,
          },
        ],
      }),
      ev(4, 0, 'acknowledged', 'U0ONCALL01', { by: 'U0ONCALL01', source: 'slack' }),
      ev(6, 21, 'command', 'commands', {
        requestId: 'R-7K2M9XD4',
        line: '✅ restart app-02 succeeded (R-7K2M9XD4)',
        succeeded: true,
      }),
      ev(8, 30, 'alert_resolved', 'alertmanager', { fingerprint: 'fp-app02', host: 'app-02' }),
      ev(8, 30, 'resolved', 'alertmanager'),
    ],
    commands: [restart],
    now: at(10),
    ...over,
  };
}

/** The table row of the timeline whose event text contains `text`. */
function timelineRow(md: string, text: string): string[] {
  const section = md.slice(md.indexOf('## Timeline'), md.indexOf('## Alerts'));
  const line = section.split('\n').find((l) => l.startsWith('| ') && l.includes(text));
  if (!line) throw new Error(`no timeline row with ${text}:\n${section}`);
  return cells(line);
}

/** A Markdown table row's cells (split on pipes that are not escaped). */
function cells(line: string): string[] {
  return line
    .slice(2, -2)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

describe('postmortemDraft: diagnose → approved restart → resolve', () => {
  const md = postmortemDraft(input());

  it('has the title, summary and the runbook workflow headings', () => {
    expect(md.startsWith('# Post-mortem (draft): QNWIS-7 · SEV-3 ServiceDown\n')).toBe(true);
    for (const h of [
      '## Summary',
      "## Response against the runbook's clock",
      '## Timeline',
      '## Alerts',
      '## Diagnosis',
      '## Commands',
      '## Acknowledgements and escalations',
      '## SLOs',
      '## Impact',
      '## Root cause',
      '## Action items',
      '## Runbook updates',
    ])
      expect(md).toContain(`\n${h}\n`);
    expect(md).toContain('| Opened | 2026-11-27 21:00:00 UTC |');
    expect(md).toContain('| Resolved | 2026-11-27 21:08:30 UTC, every alert resolved in Alertmanager |');
    expect(md).toContain('[Slack thread](http://127.0.0.1:3100/archives/C0QNWISALR/p1)');
    expect(md).toContain('by **2026-11-29 21:08:30 UTC**');
  });

  it('puts every event on the timeline with its UTC time and actor', () => {
    expect(timelineRow(md, 'Alert ServiceDown firing')).toEqual([
      '2026-11-27 21:00:31',
      'Alertmanager',
      'Alert ServiceDown firing on app-02: qnwis is down on app-02',
    ]);
    const diagnosed = timelineRow(md, 'Diagnosed by playbook');
    expect(diagnosed.slice(0, 2)).toEqual(['2026-11-27 21:01:10', 'qnwis-chatops (playbook)']);
    expect(diagnosed[2]).toContain('app-02: qnwis inactive (dead) since 21:00:00');
    // The Slack id of the acknowledger is named from the requests the same person made.
    expect(timelineRow(md, 'Acknowledged')).toEqual([
      '2026-11-27 21:04:00',
      'oncall (U0ONCALL01, L1)',
      'Acknowledged (via slack)',
    ]);
    expect(timelineRow(md, 'Requested')).toEqual([
      '2026-11-27 21:05:00',
      'oncall (U0ONCALL01, L1)',
      'Requested `restart app-02` (R-7K2M9XD4)',
    ]);
    expect(timelineRow(md, 'Approved')).toEqual([
      '2026-11-27 21:06:00',
      'sre (U0SRE00001, L2)',
      'Approved `restart app-02` (R-7K2M9XD4)',
    ]);
    expect(timelineRow(md, 'Started').slice(0, 2)).toEqual(['2026-11-27 21:06:02', 'qnwis-chatops (worker)']);
    expect(timelineRow(md, 'Finished')[2]).toContain('succeeded');
    expect(timelineRow(md, 'Incident resolved')).toEqual([
      '2026-11-27 21:08:30',
      'Alertmanager',
      'Incident resolved: every alert resolved in Alertmanager',
    ]);
  });

  it('lists the timeline in time order, the request told once (not again as its incident note), steps only under Commands', () => {
    const section = md.slice(md.indexOf('## Timeline'), md.indexOf('## Alerts'));
    const times = section
      .split('\n')
      .filter((l) => /^\| \d{4}-/.test(l))
      .map((l) => cells(l)[0] ?? '');
    expect(times).toEqual([...times].sort());
    expect(section).not.toContain('✅ restart app-02 succeeded');
    expect(section).not.toContain('restart: done');
  });

  it('describes the restart with requester, approvers, result, verification and steps', () => {
    const commands = md.slice(md.indexOf('## Commands'), md.indexOf('## Acknowledgements'));
    expect(commands).toContain('### R-7K2M9XD4: `restart app-02`, succeeded');
    expect(commands).toContain('| Requested | 2026-11-27 21:05:00 UTC by oncall (U0ONCALL01, L1) |');
    expect(commands).toContain('| Approved by | sre (U0SRE00001, L2) at 2026-11-27 21:06:00 UTC |');
    expect(commands).toContain(
      '| Result | succeeded at 2026-11-27 21:06:20 UTC: qnwis restarted on app-02 (MainPID 4242 → 5151), /health ok |',
    );
    expect(commands).toContain('✅ passed: healthy (before: MainPID 4242; after: MainPID 5151)');
    expect(commands).toContain('`record-pid` ✓, `restart` ✓, `health-gate` ✓');
  });

  it('measures each stage against the runbook targets', () => {
    expect(md).toContain('| Acknowledge | < 15 min | 2026-11-27 21:04:00 | 4 min | ✅ met |');
    expect(md).toContain('| Diagnose | < 30 min | 2026-11-27 21:01:10 | 1 min 10 s | ✅ met |');
    // Mitigated: the first command that succeeded.
    expect(md).toContain('| Mitigate | < 1 h | 2026-11-27 21:06:20 | 6 min 20 s | ✅ met |');
    expect(md).toContain('| Resolve | < 4 h | 2026-11-27 21:08:30 | 8 min 30 s | ✅ met |');
    expect(md).toContain('| Post-mortem | < 48 h after resolution | due 2026-11-29 21:08:30 | — | ⏳ open |');
  });

  it('has the diagnosis with its checks, the alerts and the SLOs the alert threatens', () => {
    expect(md).toContain(
      'Playbook `service-down` (runbook: Checking System Status), ran at 2026-11-27 21:01:10 UTC in 2.1 s.',
    );
    expect(md).toContain('| `service-status` | app-02 | error | inactive (dead) |');
    expect(md).toContain('| `health` | app-02 | unreachable | connection refused |');
    expect(md).toContain(
      '| ServiceDown | app-02 | resolved | 2026-11-27 21:00:00 | 2026-11-27 21:08:00 | qnwis is down on app-02 |',
    );
    expect(md).toContain('| Availability | 99.5% | 30 days | yes | _To fill._ |');
    expect(md).toContain('| Error rate | < 1% | 24 hours | — |');
    // 8.5 min of a 216 min budget.
    expect(md).toContain('it used 3.9% of the 30-day availability error budget (3 h 36 min at 99.5%)');
  });

  it('lists the acknowledgement under acknowledgements and escalations', () => {
    const acks = md.slice(md.indexOf('## Acknowledgements'), md.indexOf('## SLOs'));
    expect(acks).toContain('- 2026-11-27 21:04:00 UTC, oncall (U0ONCALL01, L1): Acknowledged (via slack)');
  });

  it('matches the golden draft', () => {
    expect(md).toMatchSnapshot();
  });
});

describe('postmortemDraft: escalations and kinds it does not know', () => {
  const md = postmortemDraft(
    input({
      timeline: [
        ...input().timeline,
        ev(2, 0, 'reminder', 'escalation', {
          timerKind: 'ack-reminder',
          message: 'Nobody acknowledged <!subteam^S0ONCALL01|@qnwis-oncall> yet',
        }),
        ev(3, 0, 'escalation', 'escalation', {
          kind: 'ack-escalation',
          levels: ['senior-sre', 'dev-lead'],
          message: 'Not acknowledged in 15 min: <@U0SRE00001>',
          page: true,
        }),
        ev(3, 30, 'escalated', 'Lab Senior SRE', { by: 'Lab Senior SRE', detail: 'QNWIS On-call' }),
        ev(4, 30, 'snoozed', 'U0SRE00001', { by: 'U0SRE00001', until: at(34, 30).toISOString() }),
        ev(7, 0, 'reassigned', 'U0SRE00001', { by: 'U0SRE00001', detail: 'Lab Development Lead' }),
        ev(7, 30, 'weird_new_thing', 'robot', { foo: 'bar', n: 3, list: ['a', 'b'], nested: { x: 1 } }),
      ],
      levelTitles: { 'senior-sre': 'Senior SRE', 'dev-lead': 'Dev Lead' },
    }),
  );

  it('renders the escalation clock and PagerDuty events with actors', () => {
    expect(timelineRow(md, 'Escalated to')).toEqual([
      '2026-11-27 21:03:00',
      'qnwis-chatops (escalation clock)',
      'Escalated to Senior SRE + Dev Lead, paged: Not acknowledged in 15 min: @U0SRE00001',
    ]);
    expect(timelineRow(md, 'Reminder')).toEqual([
      '2026-11-27 21:02:00',
      'qnwis-chatops (escalation clock)',
      'Reminder (ack-reminder): Nobody acknowledged @qnwis-oncall yet',
    ]);
    expect(timelineRow(md, 'Escalated in PagerDuty')).toEqual([
      '2026-11-27 21:03:30',
      'Lab Senior SRE',
      'Escalated in PagerDuty: QNWIS On-call',
    ]);
    expect(timelineRow(md, 'snoozed')).toEqual([
      '2026-11-27 21:04:30',
      'sre (U0SRE00001, L2)',
      'Reminders snoozed until 2026-11-27 21:34:30 UTC',
    ]);
    expect(timelineRow(md, 'Reassigned')[2]).toBe('Reassigned to Lab Development Lead');
    const acks = md.slice(md.indexOf('## Acknowledgements'), md.indexOf('## SLOs'));
    for (const t of [
      'Reminder',
      'Escalated to',
      'Escalated in PagerDuty',
      'snoozed',
      'Reassigned',
      'Acknowledged',
    ])
      expect(acks).toContain(t);
    expect(acks).not.toContain('Weird');
  });

  it('shows an unknown kind generically: kind, actor and its data', () => {
    expect(timelineRow(md, 'Weird new thing')).toEqual([
      '2026-11-27 21:07:30',
      'robot',
      'Weird new thing (foo=bar · n=3 · list=a,b · nested={"x":1})',
    ]);
  });
});

describe('postmortemDraft: resolution by hand, missing stages, no commands', () => {
  it('names who resolved by hand and their note; stages never reached past their target are missed', () => {
    const md = postmortemDraft(
      input({
        incident: {
          ...input().incident,
          acknowledgedAt: null,
          acknowledgedBy: null,
          resolvedAt: at(70),
          resolveNote: 'fixed by a config change',
        },
        timeline: [
          ev(70, 0, 'resolved_by_hand', 'U0SRE00001', {
            by: 'U0SRE00001',
            note: 'fixed by a config change',
            source: 'slack',
          }),
        ],
        commands: [],
        now: at(71),
      }),
    );
    expect(md).toContain(
      '| Resolved | 2026-11-27 22:10:00 UTC, by hand by U0SRE00001: “fixed by a config change” |',
    );
    expect(md).toContain('| Acknowledge | < 15 min | — | — | ❌ missed |');
    expect(md).toContain('| Mitigate | < 1 h | — | — | ❌ missed |');
    expect(md).toContain('| Resolve | < 4 h | 2026-11-27 22:10:00 | 1 h 10 min | ✅ met |');
    expect(md).toContain('No commands were requested for this incident.');
    expect(timelineRow(md, 'resolved by hand')[2]).toBe(
      'Incident resolved by hand: “fixed by a config change”',
    );
  });

  it('a command note whose request is not in the input is still told', () => {
    const md = postmortemDraft(input({ commands: [] }));
    expect(timelineRow(md, 'Command R-7K2M9XD4')[2]).toBe(
      'Command R-7K2M9XD4: ✅ restart app-02 succeeded (R-7K2M9XD4)',
    );
  });

  it('without an audit trail, the request row and approvals give the timeline', () => {
    const md = postmortemDraft(input({ commands: [{ ...restart, trail: [] }] }));
    expect(timelineRow(md, 'Requested')[1]).toBe('oncall (U0ONCALL01, L1)');
    expect(timelineRow(md, 'Approved')).toEqual([
      '2026-11-27 21:06:00',
      'sre (U0SRE00001, L2)',
      'Approved `restart app-02` (R-7K2M9XD4)',
    ]);
    expect(timelineRow(md, 'Finished')[2]).toContain('succeeded: qnwis restarted on app-02');
  });

  it('a rejected request names who rejected it', () => {
    const rejected: PostmortemCommand = {
      ...restart,
      id: 'R-REJECTED',
      state: 'rejected',
      stateDetail: 'not now',
      approvals: [],
      approvedAt: null,
      startedAt: null,
      finishedAt: at(5, 30),
      steps: [],
      verification: null,
      trail: [
        { kind: 'request', at: at(5), actor: ONCALL, summary: 'requested restart app-02' },
        { kind: 'rejection', at: at(5, 30), actor: SRE, summary: 'restart app-02: not now' },
      ],
    };
    const md = postmortemDraft(input({ commands: [rejected] }));
    expect(md).toContain(
      '| Rejected | 2026-11-27 21:05:30 UTC by sre (U0SRE00001, L2): restart app-02: not now |',
    );
    expect(md).toContain('| Approved by | nobody |');
    expect(timelineRow(md, 'Rejected')[1]).toBe('sre (U0SRE00001, L2)');
  });
});

describe('responseStages', () => {
  it('open incident inside its targets is pending; past them, missed', () => {
    const open = input({
      incident: {
        ...input().incident,
        status: 'firing',
        acknowledgedAt: null,
        resolvedAt: null,
        diagnosedAt: null,
      },
      commands: [],
      now: at(20),
    });
    expect(responseStages(open).map((s) => `${s.stage}:${s.result}`)).toEqual([
      'acknowledge:missed',
      'diagnose:pending',
      'mitigate:pending',
      'resolve:pending',
    ]);
  });

  it('resolved inside a target without reaching the stage: not reached', () => {
    const quick = input({
      incident: { ...input().incident, acknowledgedAt: null, resolvedAt: at(5) },
      commands: [],
    });
    expect(responseStages(quick).find((s) => s.stage === 'acknowledge')?.result).toBe('not reached');
    expect(responseStages(quick).find((s) => s.stage === 'mitigate')?.result).toBe('not reached');
  });

  it('late stages are missed; SEV-4 has no targets; targets can be configured', () => {
    const late = input({ incident: { ...input().incident, acknowledgedAt: at(20), resolvedAt: at(300) } });
    expect(responseStages(late).map((s) => s.result)).toEqual(['missed', 'met', 'met', 'missed']);
    const sev4 = input({ incident: { ...input().incident, severity: 'SEV-4' } });
    expect(responseStages(sev4).every((s) => s.result === 'not required')).toBe(true);
    expect(postmortemDraft(sev4)).toContain(
      '| Acknowledge | < 15 min | 2026-11-27 21:04:00 | 4 min | — no target for this severity |',
    );
    const strict = input({
      targets: {
        acknowledgeMs: 60_000,
        diagnoseMs: 60_000,
        mitigateMs: 60_000,
        resolveMs: 60_000,
        postmortemMs: 3_600_000,
      },
    });
    expect(responseStages(strict).map((s) => s.result)).toEqual(['missed', 'missed', 'missed', 'missed']);
    expect(postmortemDraft(strict)).toContain(
      '| Post-mortem | < 1 h after resolution | due 2026-11-27 22:08:30 | — | ⏳ open |',
    );
  });

  it('a recorded mitigation wins over the first successful command', () => {
    const md = postmortemDraft(input({ incident: { ...input().incident, mitigatedAt: at(3) } }));
    expect(md).toContain('| Mitigate | < 1 h | 2026-11-27 21:03:00 | 3 min | ✅ met |');
  });
});

describe('postmortemDraft: hostile and large input', () => {
  it('text from hosts and people cannot break a table row or inject markup', () => {
    const md = postmortemDraft(
      input({
        incident: {
          ...input().incident,
          diagnosisVerdict:
            'a | b\n| forged | row |<script>alert(1)</script> [x](javascript:alert(1)) `code`',
        },
      }),
    );
    const row = md.split('\n').find((l) => l.startsWith('| Diagnosed |'));
    expect(row).toBeDefined();
    expect(cells(row ?? '')).toHaveLength(2);
    expect(md).not.toContain('<script>');
    expect(md).not.toMatch(/[^\\]\]\(javascript:/);
    expect(md).not.toMatch(/^\| forged/m);
  });

  it('keeps the start and the end of a very long timeline', () => {
    const many = Array.from({ length: MAX_TIMELINE_ROWS + 50 }, (_, k) =>
      ev(0, k, 'annotated', 'robot', { detail: `note ${k}` }),
    );
    const md = postmortemDraft(input({ timeline: many, commands: [] }));
    expect(md).toContain('Note: note 0 ');
    expect(md).toContain(`Note: note ${MAX_TIMELINE_ROWS + 49} `);
    expect(md).not.toContain(`Note: note ${MAX_TIMELINE_ROWS / 2 + 10} `);
    expect(md).toContain('_50 entries in the middle are left out');
  });

  it('an unsafe link is shown as text only', () => {
    const md = postmortemDraft(
      input({ incident: { ...input().incident, slackPermalink: 'javascript:alert(1)' } }),
    );
    expect(md).toContain('| Incident | QNWIS-7 |');
  });
});

describe('helpers', () => {
  it('slackToPlain turns Slack markup into plain text', () => {
    expect(
      slackToPlain(
        '<@U0SRE00001> <!subteam^S0SRE00001|@qnwis-sre> <!here> <https://x.test/a|graph> <https://y.test>',
      ),
    ).toBe('@U0SRE00001 @qnwis-sre @here graph (https://x.test/a) https://y.test');
  });
  it('the file name is the key', () => {
    expect(postmortemFilename('QNWIS-7')).toBe('QNWIS-7-postmortem-draft.md');
  });
});

describe('postmortemReply (the /qnwis answer)', () => {
  const meta = { userId: 'U0SRE00001', now: at(10), ref: 'REF12345' };

  it('carries the whole draft as a file, and its beginning as text within Slack limits', () => {
    const long = postmortemDraft(
      input({
        timeline: Array.from({ length: 300 }, (_, k) =>
          ev(0, k, 'annotated', 'robot', { detail: `note ${k}` }),
        ),
      }),
    );
    const reply = postmortemReply({ key: 'QNWIS-7', markdown: long, resolved: true }, meta);
    expect(checkSlackLimits(reply)).toEqual([]);
    expect(reply.file?.content).toBe(long);
    expect(reply.file?.filename).toBe('QNWIS-7-postmortem-draft.md');
    expect(reply.file?.initialComment).toContain('Post-mortem draft for QNWIS-7');
    const text = JSON.stringify(reply.blocks);
    expect(text).toContain('# Post-mortem (draft): QNWIS-7');
    expect(text).toMatch(/\d+ of \d+ lines shown/);
  });

  it('an open incident is marked; an unknown one is not found (no file)', () => {
    const open = postmortemReply({ key: 'QNWIS-7', markdown: '# x\n', resolved: false }, meta);
    expect(JSON.stringify(open.blocks)).toContain('Not resolved yet');
    const missing = postmortemReply({ key: 'QNWIS-99', markdown: null, resolved: false }, meta);
    expect(missing.file).toBeUndefined();
    expect(JSON.stringify(missing.blocks)).toContain('There is no incident *QNWIS-99*');
  });
});
