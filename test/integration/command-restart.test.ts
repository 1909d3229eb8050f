/**
 * `restart app-02` against the lab with the real adapters: plan, precheck, run (progress in order,
 * the real `sudo systemctl restart qnwis`, a health gate on the real /health), verify (a new
 * MainPID and the `health` diagnostic ok). A precheck on a host the inventory does not have, or one
 * that cannot be reached, refuses with a sentence.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHost, type Inventory, parseInventory } from '../../src/inventory.js';
import { checkHealth } from '../../src/ops/adapters/http.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import { parseKnownHosts, pinsFromKnownHosts, type SshRunner } from '../../src/ops/adapters/ssh.js';
import { parseCommand } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  createCommandContext,
  createRestartCommand,
  restart,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';
import { serviceMainPid } from '../../src/ops/host-commands.js';
import { openLabFleet } from '../support/fleet.js';

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;
let adminToken: string;

beforeAll(async () => {
  ({ inventory, ssh, db, cache, ctx, adminToken } = await openLabFleet());
});

afterAll(async () => {
  await Promise.all([ssh.close(), db.close(), cache.close()]);
});

async function mainPid(host: string): Promise<number> {
  return Number((await ssh.run(getHost(inventory, host), serviceMainPid, { unit: 'qnwis' })).stdout.trim());
}

describe('restart app-02 in the lab', () => {
  it('plan → precheck → run → verify: a new MainPID, a healthy /health, progress in order', async () => {
    const parsed = parseCommand('restart', { host: 'app-02' }, inventory);
    if (!parsed.ok || parsed.command.name !== 'restart') throw new Error('restart app-02 did not parse');
    const args = parsed.command.args;

    const plan = await restart.plan(ctx, args);
    expect(plan.steps.map((s) => `${s.id}@${s.host}`)).toEqual([
      'record-pid@app-02',
      'restart@app-02',
      'health-gate@app-02',
    ]);
    expect(plan.facts).toMatchObject({ healthUrl: 'http://127.0.1.2:8000/health', healthGateSec: 60 });
    expect(plan.blastRadius).toBe('1 of 3 app hosts (app-02)');

    const pre = await restart.precheck(ctx, args, plan);
    expect(pre).toEqual({ ok: true, detail: 'app-02 answers over SSH; qnwis is active' });

    const before = await mainPid('app-02');
    expect(before).toBeGreaterThan(0);

    const progress: StepProgress[] = [];
    const started = Date.now();
    const outcome = await restart.run(
      ctx,
      args,
      plan,
      async (p) => {
        progress.push(p);
      },
      new AbortController().signal,
    );
    const tookMs = Date.now() - started;
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual([
      'record-pid:running',
      'record-pid:done',
      'restart:running',
      'restart:done',
      'health-gate:running',
      'health-gate:done',
    ]);
    expect(progress[1]?.detail).toBe(`qnwis MainPID ${before}`);
    expect(progress[5]?.detail).toMatch(/^app-02: \/health HTTP 200 after .+ \(attempt \d+\)$/);
    expect(outcome.observations).toEqual({ oldMainPid: before });
    expect(tookMs).toBeLessThan(20_000);

    const v = await restart.verify(ctx, args, plan, outcome);
    expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
    expect(v.before).toBe(`qnwis MainPID ${before}`);
    expect(v.after).toMatch(/^qnwis MainPID \d+; app-02: \/health 200 in \d+ ms/);
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}:${e.status}`)).toEqual(['health:app-02:ok']);

    // The same facts, seen independently of the command.
    const after = await mainPid('app-02');
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect(v.detail).toContain(`(${before} → ${after})`);
    const health = await checkHealth('http://127.0.1.2:8000/health', { timeoutMs: 2_000 });
    expect(health).toMatchObject({ ok: true, status: 200 });
    expect(health.body).toMatchObject({ status: 'healthy', host: 'app-02' });
  });

  it('verify says so when the process was not replaced', async () => {
    const plan = await restart.plan(ctx, { host: 'app-02' });
    const current = await mainPid('app-02');
    const v = await restart.verify(ctx, { host: 'app-02' }, plan, {
      status: 'succeeded',
      steps: [],
      detail: '',
      observations: { oldMainPid: current },
    });
    expect(v.ok).toBe(false);
    expect(v.detail).toBe(`app-02: MainPID is still ${current}: the process was not replaced`);
  });
});

describe('restart precheck refuses a host it cannot act on', () => {
  /** The lab inventory with app-02 moved to `address` (host key pinned inline, so only the address differs). */
  function inventoryWithApp02At(address: string): Inventory {
    const app02 = getHost(inventory, 'app-02');
    const knownHosts = parseKnownHosts(readFileSync(app02.ssh.knownHostsPath ?? '', 'utf8'));
    const [pin] = pinsFromKnownHosts(knownHosts, app02.address, app02.ssh.port, 'known_hosts').accepted;
    const yaml = readFileSync(inventory.source, 'utf8').replace(
      /app-02: \{ address: [0-9.]+, roles: \[app\] \}/,
      `app-02: { address: ${address}, roles: [app], ssh: { host_key: "${pin}" } }`,
    );
    return parseInventory(yaml, inventory.source);
  }

  it('an unknown host: refused without touching anything', async () => {
    const plan = await restart.plan(ctx, { host: 'app-02' });
    const unknown = { ...plan, facts: { ...plan.facts, host: 'app-09' } };
    expect(await restart.precheck(ctx, { host: 'app-09' }, unknown)).toEqual({
      ok: false,
      reason: 'app-09 is not in the inventory',
    });
    expect(await restart.precheck(ctx, { host: 'app-01' }, plan)).toEqual({
      ok: false,
      reason: 'the plan is for app-02, the request for app-01',
    });
  });

  it('an unreachable host (nothing listens on its address): refused with the SSH reason', async () => {
    const moved = inventoryWithApp02At('127.0.9.99');
    const c = createCommandContext(
      createDiagnosticContext({ inventory: moved, ssh, db, cache, adminToken, stepTimeoutMs: 3_000 }),
    );
    // Planned against the moved inventory (the health URL follows the address).
    const plan = await createRestartCommand().plan(c, { host: 'app-02' });
    const started = Date.now();
    const pre = await restart.precheck(c, { host: 'app-02' }, plan);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(pre).toEqual({
      ok: false,
      reason:
        'app-02 cannot be reached: app-02: service-status — not reachable over SSH ' +
        '(cannot connect to 127.0.9.99:2222: ECONNREFUSED)',
    });
  });

  it('a plan made before the inventory changed: refused, plan again', async () => {
    const plan = await restart.plan(ctx, { host: 'app-02' });
    const moved = inventoryWithApp02At('127.0.9.99');
    const c = createCommandContext(
      createDiagnosticContext({ inventory: moved, ssh, db, cache, adminToken, stepTimeoutMs: 3_000 }),
    );
    const pre = await restart.precheck(c, { host: 'app-02' }, plan);
    expect(pre).toEqual({
      ok: false,
      reason:
        'the inventory changed since the plan (qnwis/qnwis at http://127.0.1.2:8000/health → ' +
        'qnwis/qnwis at http://127.0.9.99:8000/health): plan again',
    });
  });
});
