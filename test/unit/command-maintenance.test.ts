/**
 * `maintenance` without hosts: the silence's matchers, comment and end time; the plans for on and
 * off as plain JSON (hashing the same when nothing changed); what the plan does without an
 * Alertmanager, a PagerDuty routing key or the admin token; the Alertmanager adapter's validation
 * and error classification (fetch injected: no network).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AlertmanagerRejectedError,
  AlertmanagerUnavailableError,
  InvalidArgumentError,
  SilenceNotFoundError,
} from '../../src/errors.js';
import { planHash } from '../../src/incidents/approvals.js';
import { parseInventory } from '../../src/inventory.js';
import {
  AlertmanagerClient,
  type AlertmanagerSilences,
  formatMatcher,
  type SilenceMatcher,
  validateSilenceSpec,
} from '../../src/ops/adapters/alertmanager.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import type { RemoteCommandRunner } from '../../src/ops/adapters/ssh.js';
import { type CommandArgs, parseCommand } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  commandModule,
  createCommandContext,
  createMaintenanceCommand,
  maintenance,
  PlanRefusedError,
} from '../../src/ops/commands/index.js';
import {
  isMaintenanceSilence,
  maintenanceMarker,
  maintenanceMatchers,
  silenceComment,
  silenceSpecFor,
  withRequestRef,
} from '../../src/ops/commands/maintenance.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');
const NOW = new Date('2026-03-01T10:00:00.000Z');
const SERVICE_QNWIS: SilenceMatcher = { name: 'service', value: 'qnwis', isRegex: false, isEqual: true };

function args(raw: unknown): CommandArgs['maintenance'] {
  const r = parseCommand('maintenance', raw, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command.args as CommandArgs['maintenance'];
}

/** Never called by plan(): planning reads nothing. */
const unusedAlertmanager: AlertmanagerSilences = {
  url: 'http://127.0.0.1:9093',
  createSilence: async () => {
    throw new Error('not expected');
  },
  getSilence: async () => undefined,
  listSilences: async () => [],
  expireSilence: async () => undefined,
};

function context(
  opts: { alertmanager?: boolean; changeEvents?: boolean; adminToken?: string | undefined } = {},
): CommandContext {
  const base = createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh: {} as RemoteCommandRunner,
      db: {} as FleetDatabase,
      cache: {} as FleetCache,
      adminToken: 'adminToken' in opts ? opts.adminToken : 'lab-admin-token',
      stepTimeoutMs: 1_000,
      now: () => NOW,
    }),
  );
  return {
    ...base,
    ...(opts.alertmanager === false ? {} : { alertmanager: unusedAlertmanager }),
    ...(opts.changeEvents === false ? {} : { changeEvents: { send: async () => undefined } }),
  };
}

describe('the silence', () => {
  it("matches the app's alerts (service label), optionally narrowed to the environment", () => {
    expect(maintenanceMatchers(inventory, 'qnwis')).toEqual([SERVICE_QNWIS]);
    expect(maintenanceMatchers(inventory, 'qnwis', { environmentLabel: 'environment' })).toEqual([
      SERVICE_QNWIS,
      { name: 'environment', value: 'lab', isRegex: false, isEqual: true },
    ]);
    expect(maintenanceMatchers(inventory, 'qnwis', { serviceLabel: 'app' })[0]?.name).toBe('app');
    expect(maintenanceMatchers(inventory, 'qnwis').map(formatMatcher)).toEqual(['service="qnwis"']);
    expect(
      formatMatcher({ name: 'job', value: 'a|b', isRegex: true, isEqual: false }) +
        formatMatcher({ name: 'env', value: 'dev', isRegex: false, isEqual: false }),
    ).toBe('job!~"a|b"env!="dev"');
  });

  it('comment: marker first (how off finds it), the message quoted, the duration, the request', () => {
    const c = silenceComment('lab', 'Scheduled "maintenance"', 7200);
    expect(c).toBe('[qnwis-chatops maintenance env=lab] "Scheduled \\"maintenance\\"" for 2h');
    expect(withRequestRef(c, 'REQ-42')).toBe(`${c} (request REQ-42)`);
    expect(withRequestRef(c, undefined)).toBe(c);
    expect(withRequestRef(c, '  ')).toBe(c);
    expect(withRequestRef(c, 'REQ\n-1')).toBe(`${c} (request REQ -1)`);
  });

  it('only our own silences for this environment count as maintenance silences', () => {
    const marker = maintenanceMarker('lab');
    const mine = { createdBy: 'qnwis-chatops', comment: silenceComment('lab', 'x', 3600) };
    expect(isMaintenanceSilence(mine, marker)).toBe(true);
    expect(isMaintenanceSilence({ ...mine, createdBy: 'alice' }, marker)).toBe(false);
    expect(isMaintenanceSilence({ ...mine, comment: silenceComment('production', 'x', 3600) }, marker)).toBe(
      false,
    );
    // The marker inside someone's message is not the marker.
    expect(isMaintenanceSilence({ ...mine, comment: `manual ${marker}` }, marker)).toBe(false);
  });

  it('starts when the step runs and ends --for later (not at plan time)', async () => {
    const plan = await maintenance.plan(context(), args({ mode: 'on', message: 'Upgrade', for: '90m' }));
    const at = new Date('2026-03-01T10:14:59.123Z');
    expect(silenceSpecFor(plan.facts, at, 'REQ-7')).toEqual({
      matchers: [SERVICE_QNWIS],
      startsAt: at,
      endsAt: new Date('2026-03-01T11:44:59.123Z'),
      createdBy: 'qnwis-chatops',
      comment: '[qnwis-chatops maintenance env=lab] "Upgrade" for 90m (request REQ-7)',
    });
    expect(() => validateSilenceSpec(silenceSpecFor(plan.facts, at, undefined), at)).not.toThrow();
  });

  it('a silence that would silence everything, or is already over, is refused before it is sent', () => {
    const spec = {
      matchers: [SERVICE_QNWIS],
      startsAt: NOW,
      endsAt: new Date(NOW.getTime() + 3600_000),
      createdBy: 'qnwis-chatops',
      comment: 'c',
    };
    const refused = (over: Partial<typeof spec>) => {
      try {
        validateSilenceSpec({ ...spec, ...over }, NOW);
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidArgumentError);
        return (err as Error).message;
      }
    };
    expect(refused({})).toBe('accepted');
    expect(refused({ matchers: [] })).toBe('a silence needs at least one matcher');
    expect(refused({ matchers: [{ name: 'service', value: '.*', isRegex: true, isEqual: true }] })).toMatch(
      /would silence everything/,
    );
    expect(refused({ matchers: [{ name: 'service', value: 'x', isRegex: false, isEqual: false }] })).toMatch(
      /would silence everything/,
    );
    expect(refused({ matchers: [{ name: 'bad-name', value: 'x', isRegex: false, isEqual: true }] })).toMatch(
      /not a label name/,
    );
    expect(refused({ matchers: [{ name: 'service', value: '(', isRegex: true, isEqual: true }] })).toMatch(
      /not a valid regular expression/,
    );
    expect(refused({ endsAt: NOW })).toBe('a silence must end after it starts');
    expect(
      refused({ startsAt: new Date(NOW.getTime() - 7200_000), endsAt: new Date(NOW.getTime() - 1) }),
    ).toBe('a silence must end in the future');
    expect(refused({ comment: ' ' })).toBe('a silence needs a comment');
    expect(refused({ createdBy: '' })).toBe('a silence needs createdBy');
  });
});

describe('plans are plain JSON with the exact steps', () => {
  it('maintenance on "…" --for 2h', async () => {
    const plan = await maintenance.plan(
      context(),
      args({ mode: 'on', message: 'Scheduled maintenance in progress', for: '2h' }),
    );
    expect(plan).toEqual({
      command: 'maintenance',
      summary: 'maintenance on for 2h: "Scheduled maintenance in progress"',
      steps: [
        {
          id: 'read-state',
          kind: 'capture',
          description:
            "Read the fleet's maintenance state (GET http://127.0.1.1:8000/admin/maintenance, else app-02, app-03) " +
            'and the qnwis-chatops maintenance silences in http://127.0.0.1:9093',
        },
        {
          id: 'app-on',
          host: 'app-01',
          kind: 'remote-command',
          description:
            'POST http://127.0.1.1:8000/admin/maintenance {"enabled":true,"message":"Scheduled maintenance in progress"} ' +
            'with the admin token: fleet-wide (the app keeps the state in Redis); app-02, app-03 take the call if app-01 does not answer',
        },
        {
          id: 'confirm',
          kind: 'health-gate',
          description:
            'GET /health on app-01, app-02, app-03 must report "maintenance": true within 15 s (polled every 500 ms; ' +
            'a host that does not answer reads the fleet state when it starts)',
          timeoutSec: 15,
        },
        {
          id: 'silence',
          kind: 'remote-command',
          description:
            'POST http://127.0.0.1:9093/api/v2/silences: service="qnwis" from when this step runs for 2h (endsAt = start + 2h), ' +
            'createdBy qnwis-chatops, comment "[qnwis-chatops maintenance env=lab] \\"Scheduled maintenance in progress\\" for 2h" ' +
            '(+ the request reference); earlier qnwis-chatops maintenance silences of lab are expired (replaced)',
        },
        {
          id: 'change-event',
          kind: 'remote-command',
          description:
            'PagerDuty change event (POST /v2/change/enqueue, source qnwis-lab): ' +
            '"Maintenance started on qnwis (lab) for 2h: Scheduled maintenance in progress"',
        },
      ],
      blastRadius:
        'every app host (3: app-01, app-02, app-03): users get HTTP 503 "Scheduled maintenance in progress"; ' +
        'alerts matching service="qnwis" are silenced for 2h (maintenance mode itself stays on until "maintenance off")',
      facts: {
        mode: 'on',
        environment: 'lab',
        service: 'qnwis',
        message: 'Scheduled maintenance in progress',
        durationSec: 7200,
        endpoints: [
          { host: 'app-01', url: 'http://127.0.1.1:8000/admin/maintenance' },
          { host: 'app-02', url: 'http://127.0.1.2:8000/admin/maintenance' },
          { host: 'app-03', url: 'http://127.0.1.3:8000/admin/maintenance' },
        ],
        health: [
          { host: 'app-01', url: 'http://127.0.1.1:8000/health' },
          { host: 'app-02', url: 'http://127.0.1.2:8000/health' },
          { host: 'app-03', url: 'http://127.0.1.3:8000/health' },
        ],
        confirmWithinSec: 15,
        pollIntervalMs: 500,
        silence: {
          alertmanagerUrl: 'http://127.0.0.1:9093',
          matchers: [SERVICE_QNWIS],
          createdBy: 'qnwis-chatops',
          marker: '[qnwis-chatops maintenance env=lab]',
          comment: '[qnwis-chatops maintenance env=lab] "Scheduled maintenance in progress" for 2h',
        },
        changeEvent: {
          source: 'qnwis-lab',
          summary: 'Maintenance started on qnwis (lab) for 2h: Scheduled maintenance in progress',
        },
        skipped: [],
      },
    });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    expect(commandModule('maintenance')).toBe(maintenance);
  });

  it('maintenance off: silences expired before the app leaves maintenance', async () => {
    const plan = await maintenance.plan(context(), args({ mode: 'off' }));
    expect(plan.summary).toBe('maintenance off');
    expect(plan.steps.map((s) => `${s.id}:${s.kind}`)).toEqual([
      'read-state:capture',
      'expire-silences:remote-command',
      'app-off:remote-command',
      'confirm:health-gate',
      'change-event:remote-command',
    ]);
    expect(plan.steps[1]?.description).toBe(
      'Expire (DELETE http://127.0.0.1:9093/api/v2/silence/<id>) every active or pending silence created by ' +
        'qnwis-chatops whose comment starts with [qnwis-chatops maintenance env=lab]',
    );
    expect(plan.steps[2]?.description).toMatch(
      /^POST http:\/\/127\.0\.1\.1:8000\/admin\/maintenance \{"enabled":false\} /,
    );
    expect(plan.blastRadius).toBe(
      'every app host (3: app-01, app-02, app-03) serves traffic again; the qnwis-chatops maintenance silences are expired, alerts notify again',
    );
    expect(plan.facts).toMatchObject({
      message: null,
      durationSec: null,
      silence: { matchers: [], comment: null },
    });
  });

  it('the same request plans the same (same hash); another message or duration does not', async () => {
    const ctx = context();
    const a = args({ mode: 'on', message: 'Upgrade', for: '2h' });
    const hash = async (x: CommandArgs['maintenance']) =>
      planHash({
        command: 'maintenance',
        args: x,
        targets: [['maintenance']],
        plan: await maintenance.plan(ctx, x),
      });
    expect(await hash(a)).toBe(await hash(args({ mode: 'on', message: 'Upgrade', for: '120m' })));
    expect(await hash(a)).not.toBe(await hash(args({ mode: 'on', message: 'Upgrade!', for: '2h' })));
    expect(await hash(a)).not.toBe(await hash(args({ mode: 'on', message: 'Upgrade', for: '3h' })));
  });

  it('with environmentLabel the silence is narrowed to this environment', async () => {
    const plan = await createMaintenanceCommand({ environmentLabel: 'env' }).plan(
      context(),
      args({ mode: 'on', message: 'Upgrade' }),
    );
    expect(plan.facts.silence?.matchers.map(formatMatcher)).toEqual(['service="qnwis"', 'env="lab"']);
    expect(plan.facts.durationSec).toBe(3600);
  });
});

describe('without a port or the admin token', () => {
  it('on without an Alertmanager: refused (a window that pages is not what approvers approve)', async () => {
    await expect(
      maintenance.plan(context({ alertmanager: false }), args({ mode: 'on', message: 'x' })),
    ).rejects.toThrow(
      new PlanRefusedError(
        'maintenance',
        "no Alertmanager is configured for lab (monitoring.alertmanager_url), so the app's alerts could not be " +
          'silenced during the window; use the runbook procedure if paging during it is acceptable',
      ),
    );
  });

  it('off without an Alertmanager or PagerDuty: planned, and the plan says what is left out', async () => {
    const plan = await maintenance.plan(
      context({ alertmanager: false, changeEvents: false }),
      args({ mode: 'off' }),
    );
    expect(plan.steps.map((s) => s.id)).toEqual(['read-state', 'app-off', 'confirm']);
    expect(plan.facts.silence).toBeNull();
    expect(plan.facts.changeEvent).toBeNull();
    expect(plan.facts.skipped).toEqual([
      'Alertmanager silences: none expired (no Alertmanager is configured for this environment)',
      'PagerDuty change event: not sent (no PagerDuty routing key is configured)',
    ]);
    expect(plan.blastRadius).toContain('no silence is touched');
  });

  it('on without PagerDuty: planned without the change event', async () => {
    const plan = await maintenance.plan(context({ changeEvents: false }), args({ mode: 'on', message: 'x' }));
    expect(plan.steps.map((s) => s.id)).toEqual(['read-state', 'app-on', 'confirm', 'silence']);
    expect(plan.facts.skipped).toEqual([
      'PagerDuty change event: not sent (no PagerDuty routing key is configured)',
    ]);
  });

  it('without the admin token: refused, naming the variable', async () => {
    await expect(maintenance.plan(context({ adminToken: undefined }), args({ mode: 'off' }))).rejects.toThrow(
      'maintenance: the admin token for qnwis (QNWIS_ADMIN_TOKEN) is not configured: the maintenance endpoint needs it',
    );
  });

  it("precheck refuses a plan made with other ports than the run's", async () => {
    const a = args({ mode: 'off' });
    const plan = await maintenance.plan(context(), a);
    expect(await maintenance.precheck(context({ changeEvents: false }), a, plan)).toEqual({
      ok: false,
      reason:
        'the inventory or the configuration (Alertmanager, PagerDuty) changed since the plan: plan again',
    });
    expect(await maintenance.precheck(context(), args({ mode: 'on', message: 'x' }), plan)).toEqual({
      ok: false,
      reason: 'the plan is for maintenance off, the request for on',
    });
  });
});

describe('the Alertmanager adapter classifies answers (fetch injected)', () => {
  const ID = 'b5d2c98d-c161-4b2d-bdc2-3c35011e05fb';
  function client(answer: (url: string, init: RequestInit) => Response | Promise<Response>) {
    const calls: string[] = [];
    const c = new AlertmanagerClient({
      url: 'http://127.0.0.1:9093/',
      now: () => NOW,
      fetch: (async (input: URL | string, init?: RequestInit) => {
        calls.push(`${init?.method} ${String(input)}`);
        return answer(String(input), init ?? {});
      }) as typeof fetch,
    });
    return { c, calls };
  }
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const spec = {
    matchers: [SERVICE_QNWIS],
    startsAt: NOW,
    endsAt: new Date(NOW.getTime() + 60_000),
    createdBy: 'qnwis-chatops',
    comment: 'c',
  };

  it('creates with the v2 body and returns the id', async () => {
    let sent: unknown;
    const { c, calls } = client((_url, init) => {
      sent = JSON.parse(String(init.body));
      return json(200, { silenceID: ID });
    });
    expect(await c.createSilence(spec)).toBe(ID);
    expect(calls).toEqual(['POST http://127.0.0.1:9093/api/v2/silences']);
    expect(sent).toEqual({
      matchers: [SERVICE_QNWIS],
      startsAt: '2026-03-01T10:00:00.000Z',
      endsAt: '2026-03-01T10:01:00.000Z',
      createdBy: 'qnwis-chatops',
      comment: 'c',
    });
    expect(c.url).toBe('http://127.0.0.1:9093');
  });

  it("400 → AlertmanagerRejectedError with Alertmanager's words; 503 → transient; unknown id on expire → not found", async () => {
    const rejected = client(() =>
      json(400, 'silence invalid: at least one matcher must not match the empty string'),
    );
    const err = await rejected.c.createSilence(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlertmanagerRejectedError);
    expect((err as AlertmanagerRejectedError).reason).toBe(
      'silence invalid: at least one matcher must not match the empty string',
    );
    expect((err as AlertmanagerRejectedError).transient).toBe(false);

    const down = client(() => json(503, 'unavailable'));
    const e2 = await down.c.listSilences().catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(AlertmanagerUnavailableError);
    expect((e2 as AlertmanagerUnavailableError).transient).toBe(true);

    const gone = client(() => json(500, 'silence not found'));
    await expect(gone.c.expireSilence(ID)).rejects.toBeInstanceOf(SilenceNotFoundError);
    expect(await client(() => new Response(null, { status: 404 })).c.getSilence(ID)).toBeUndefined();
  });

  it('a malformed id never reaches a URL path; refused connections are transient', async () => {
    const { c, calls } = client(() => json(200, {}));
    await expect(c.expireSilence('../../-/reload')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(calls).toEqual([]);
    const refused = client(() => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    });
    await expect(refused.c.listSilences()).rejects.toThrow(
      'Alertmanager at http://127.0.0.1:9093/api/v2/silences is unavailable: ECONNREFUSED',
    );
  });

  it('lists silences with their state and filters as Alertmanager writes matchers', async () => {
    const { c, calls } = client(() =>
      json(200, [
        {
          id: ID,
          status: { state: 'active' },
          updatedAt: '2026-03-01T10:00:00.000Z',
          comment: 'c',
          createdBy: 'qnwis-chatops',
          startsAt: '2026-03-01T10:00:00.000Z',
          endsAt: '2026-03-01T11:00:00.000Z',
          matchers: [{ name: 'service', value: 'qnwis', isRegex: false }],
        },
      ]),
    );
    const list = await c.listSilences([SERVICE_QNWIS]);
    expect(calls).toEqual(['GET http://127.0.0.1:9093/api/v2/silences?filter=service%3D%22qnwis%22']);
    expect(list).toEqual([
      {
        id: ID,
        state: 'active',
        matchers: [SERVICE_QNWIS],
        startsAt: '2026-03-01T10:00:00.000Z',
        endsAt: '2026-03-01T11:00:00.000Z',
        updatedAt: '2026-03-01T10:00:00.000Z',
        createdBy: 'qnwis-chatops',
        comment: 'c',
      },
    ]);
  });
});
