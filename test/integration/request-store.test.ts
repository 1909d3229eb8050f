/**
 * The request store against the real PostgreSQL, under the races Slack produces: ten people asking
 * for the same host at once get one request; two approvers completing a one-approval rule at once
 * move it to `approved` once; a worker claim is exclusive; expiry and cancel are state changes that
 * happen once, each with its audit row in the same transaction (the chain verifies).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asApproval, asApprovalRequest } from '../../src/approvals/service.js';
import {
  DEFAULT_APPROVAL_POLICY,
  evaluateApproval,
  evaluateRequest,
  planHash,
} from '../../src/incidents/approvals.js';
import { AuditTrail } from '../../src/store/audit-trail.js';
import { type NewRequest, RequestStore } from '../../src/store/requests.js';
import { createTestStore, type TestStore } from '../support/store.js';

let t: TestStore;
let store: RequestStore;
let audit: AuditTrail;
const policy = DEFAULT_APPROVAL_POLICY;
const T0 = new Date('2026-11-28T03:00:00Z');

beforeAll(async () => {
  t = await createTestStore();
  audit = new AuditTrail(t.db);
  store = new RequestStore(t.db, audit);
});

afterAll(async () => {
  await t?.drop();
});

let seq = 0;
function newRequest(host: string, requester = 'U0ONCALL01', at = T0): NewRequest {
  seq++;
  const plan = { steps: [{ id: 'restart', description: `restart ${host}` }], blastRadius: '1 host' };
  const targets = [['host', host]];
  return {
    id: `R-TEST${String(seq).padStart(4, '0')}`,
    command: 'restart',
    args: { host },
    summary: `restart ${host}`,
    ruleKey: 'restart',
    risk: 'medium',
    destructive: false,
    targets,
    plan,
    planHash: planHash({ command: 'restart', args: { host }, targets, plan }),
    requester: { id: requester, name: null, level: 'L1' },
    incidentId: null,
    channelId: 'C0QNWISOPS',
    threadTs: null,
    requestedAt: at,
    expiresAt: new Date(at.getTime() + policy.requestTtlMs),
    state: 'pending',
    breakGlass: false,
  };
}

/** What the service does: the policy decides against the open requests, under the store's lock. */
function create(req: NewRequest) {
  return store.create((open) => {
    const d = evaluateRequest(policy, {
      command: { name: req.command, summary: req.summary, ruleKey: 'restart', targets: req.targets },
      requester: { id: req.requester.id, level: req.requester.level },
      pending: open,
      now: req.requestedAt.getTime(),
    });
    return d.allowed ? { request: req } : { refusal: d.reason };
  });
}

describe('RequestStore', () => {
  it('ten simultaneous requests for one host create exactly one; the rest name it', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => create(newRequest('app-09', `U0PERSON0${i}`))),
    );
    const created = results.filter((r) => r.created);
    expect(created).toHaveLength(1);
    const id = created[0]?.created ? created[0].row.id : '';
    for (const r of results.filter((x) => !x.created)) {
      expect(r.created ? '' : String(r.refusal)).toContain(id);
    }
  });

  it('two approvers completing a one-approval rule at once: one approval moves it, once', async () => {
    const made = await create(newRequest('app-08'));
    if (!made.created) throw new Error('not created');
    const row = made.row;
    const approveAs = (id: string) =>
      store.approve(row.id, { id, name: null, level: 'L2' }, (r, approvals) => {
        if (r.state !== 'pending') return { approval: null, satisfied: false };
        const d = evaluateApproval(policy, {
          request: asApprovalRequest(r),
          approvals: approvals.map((a) => asApproval(a)),
          candidate: { approver: { id, level: 'L2' }, planHash: r.planHash },
          now: T0.getTime() + 60_000,
        });
        return { approval: d.approval, satisfied: d.satisfied };
      });
    const [a, b, c] = await Promise.all([
      approveAs('U0SRE00001'),
      approveAs('U0SRE00002'),
      approveAs('U0SRE00001'),
    ]);
    expect([a, b, c].filter((r) => r?.approvedNow)).toHaveLength(1);
    expect((await store.get(row.id))?.state).toBe('approved');
    // The first approval completed the rule; the later ones were not recorded.
    expect(await store.approvals(row.id)).toHaveLength(1);

    // Claims are exclusive: three workers, one run.
    const claims = await Promise.all([
      store.claim(row.id, 'w1', T0),
      store.claim(row.id, 'w2', T0),
      store.claim(row.id, 'w3', T0),
    ]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    await store.recordStep(row.id, { stepId: 'restart', status: 'done', detail: 'ok', at: T0.toISOString() });
    // A cancel while running only asks to stop; the worker ends it.
    expect((await store.cancel(row.id, { id: 'U0ONCALL01', name: null, level: 'L1' }, T0))?.effect).toBe(
      'stopping',
    );
    expect(await store.cancelRequested(row.id)).toBe(true);
    const done = await store.finish(row.id, 'cancelled', 'stopped after 1 step', T0, null);
    expect(done?.state).toBe('cancelled');
    expect(done?.steps.map((s) => s.stepId)).toEqual(['restart']);
    // A second finish (a replayed job) changes nothing.
    expect(await store.finish(row.id, 'succeeded', 'again', T0, null)).toBeUndefined();
  });

  it('expiry happens once, is audited, and frees the target', async () => {
    const made = await create(newRequest('app-07'));
    if (!made.created) throw new Error('not created');
    const later = new Date(T0.getTime() + policy.requestTtlMs + 1000);
    const [first, second] = await Promise.all([store.expireDue(later), store.expireDue(later)]);
    expect([...(first ?? []), ...(second ?? [])].filter((r) => r.id === made.row.id)).toHaveLength(1);
    expect((await store.get(made.row.id))?.state).toBe('expired');
    const again = await create(newRequest('app-07', 'U0ONCALL01', later));
    expect(again.created).toBe(true);
    const kinds = (await audit.list({ requestId: made.row.id, limit: 10 })).map((r) => r.kind);
    expect(kinds).toContain('expiry');
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 11 });
  });

  it('a rejected request cannot be approved or claimed afterwards', async () => {
    const made = await create(newRequest('app-06'));
    if (!made.created) throw new Error('not created');
    expect(
      await store.reject(made.row.id, { id: 'U0SRE00001', name: null, level: 'L2' }, 'no', T0),
    ).toBeDefined();
    expect(
      await store.reject(made.row.id, { id: 'U0SRE00001', name: null, level: 'L2' }, 'no', T0),
    ).toBeUndefined();
    expect(await store.claim(made.row.id, 'w1', T0)).toBeUndefined();
  });

  it('one break-glass window at a time; its end is announced once', async () => {
    const sre = { id: 'U0SRE00001', name: null, level: 'L2' as const };
    const open = (startsAt: Date) =>
      store.openBreakGlass(
        {
          grantedBy: sre,
          reason: 'drill',
          channelId: 'C0QNWISOPS',
          startsAt,
          endsAt: new Date(startsAt.getTime() + 60_000),
        },
        (active) => (active ? 'already active' : null),
      );
    const [a, b] = await Promise.all([open(T0), open(T0)]);
    expect([a, b].filter((r) => r.opened)).toHaveLength(1);
    expect(await store.activeBreakGlass(new Date(T0.getTime() + 30_000))).toBeDefined();
    expect(await store.activeBreakGlass(new Date(T0.getTime() + 61_000))).toBeUndefined();
    const closed = await store.closeEndedBreakGlass(new Date(T0.getTime() + 61_000));
    expect(closed).toHaveLength(1);
    expect(await store.closeEndedBreakGlass(new Date(T0.getTime() + 62_000))).toHaveLength(0);
  });
});
