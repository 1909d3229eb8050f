/**
 * `cert-renew` against the lab's load balancer: nginx terminates TLS on 127.0.4.1:443 with the
 * certificate certbot keeps under /etc/letsencrypt (lab/shims/certbot issues real certificates
 * with openssl). The lab certificate is first made due for renewal (20 days left, as if 70 days
 * had passed). A dry run, even followed by a reload, changes nothing; cert-renew renews it (a new
 * lineage version, ~90 days) and nginx serves it; a second cert-renew finds nothing due and changes
 * nothing. What nginx serves is read by a TLS handshake of the test's own, not only through the
 * command's verification. The lab ends as it began: a fresh 90-day certificate.
 */
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_TLS_NAME } from '../../lab/lab.js';
import { getHost, type Inventory } from '../../src/inventory.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import { certbotRenewDryRun, parseCertbotRenew, serviceReload } from '../../src/ops/commands/cert-renew.js';
import {
  type CommandContext,
  certRenew,
  createCommandContext,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';
import { fetchCertificate } from '../../src/ops/diagnostics/tls-expiry.js';
import { lab, labCredentials, labInventory } from '../support/lab.js';

const DAY_MS = 86_400_000;

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;

/** notAfter of the certificate nginx serves on the lab's TLS endpoint, by a handshake of our own. */
async function served(): Promise<{ notAfter: number; fingerprint: string }> {
  const { cert } = await fetchCertificate('127.0.4.1', 443, 3_000);
  return { notAfter: Date.parse(cert.valid_to), fingerprint: cert.fingerprint256 };
}

/**
 * What nginx serves once a reload has settled: old workers keep answering for a while after a
 * reload, so one handshake may still see the previous certificate. Five in a row agree.
 */
async function servedSettled(): Promise<{ notAfter: number; fingerprint: string }> {
  const deadline = Date.now() + 20_000;
  let last = await served();
  let streak = 1;
  while (streak < 5) {
    if (Date.now() > deadline) throw new Error('nginx kept serving two certificates for 20 s');
    await new Promise((r) => setTimeout(r, 100));
    const now = await served();
    streak = now.fingerprint === last.fingerprint ? streak + 1 : 1;
    last = now;
  }
  return last;
}

/** Which archived version the live lineage points at (certbot's symlink). */
function liveVersion(): string {
  return readlinkSync(path.join(lab.hostDir('lb'), 'etc/letsencrypt/live', LAB_TLS_NAME, 'cert.pem'));
}

async function run() {
  const plan = await certRenew.plan(ctx, {});
  const pre = await certRenew.precheck(ctx, {}, plan);
  expect(pre, pre.ok ? '' : pre.reason).toEqual({ ok: true, detail: 'lb: nginx active' });
  const progress: StepProgress[] = [];
  const outcome = await certRenew.run(
    ctx,
    {},
    plan,
    async (p) => {
      progress.push(p);
    },
    new AbortController().signal,
  );
  const verify = await certRenew.verify(ctx, {}, plan, outcome);
  return { plan, progress, outcome, verify };
}

beforeAll(async () => {
  inventory = labInventory();
  const creds = await labCredentials();
  ssh = new SshRunner({ connectTimeoutMs: 3_000 });
  db = new FleetDatabase({ database: inventory.database, password: creds.postgres.ops });
  cache = new FleetCache({ cache: inventory.cache, password: undefined });
  ctx = createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh,
      db,
      cache,
      adminToken: creds.adminToken,
      stepTimeoutMs: 5_000,
    }),
  );
  // As if 70 of its 90 days had passed: due for renewal (certbot renews within 30 days).
  await lab.issueTlsCertificate({ days: 20 });
  const daysLeft = async () => Math.round(((await served()).notAfter - Date.now()) / DAY_MS);
  expect(await daysLeft()).toBe(20);
}, 60_000);

afterAll(async () => {
  try {
    // A failure half-way must not leave the lab with a certificate about to expire.
    if ((await served()).notAfter - Date.now() < 80 * DAY_MS) await lab.issueTlsCertificate();
  } finally {
    await Promise.all([ssh.close(), db.close(), cache.close()]);
  }
}, 60_000);

describe('cert-renew in the lab', () => {
  it('a dry run alone changes nothing, even after a reload', async () => {
    const before = await servedSettled();
    const version = liveVersion();
    const lb = getHost(inventory, 'lb');
    const r = await ssh.run(lb, certbotRenewDryRun, {});
    expect(r.exitCode).toBe(0);
    expect(parseCertbotRenew(`${r.stdout}\n${r.stderr}`)).toEqual({
      renewed: [`/etc/letsencrypt/live/${LAB_TLS_NAME}/fullchain.pem`],
      failed: [],
      notDue: [],
      simulated: true,
    });
    await ssh.run(lb, serviceReload, { unit: 'nginx' });
    await sleep(500);
    expect(liveVersion()).toBe(version);
    expect(await servedSettled()).toEqual(before);
  }, 60_000);

  it('renews the due certificate and nginx serves it: the expiry moves ~70 days later', async () => {
    const before = await served();
    const versionBefore = liveVersion();
    const started = Date.now();
    const { plan, progress, outcome, verify } = await run();
    const tookMs = Date.now() - started;
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual(
      plan.steps.flatMap((s) => [`${s.id}:running`, `${s.id}:done`]),
    );
    const detail = (id: string) => outcome.steps.find((s) => s.stepId === id)?.detail ?? '';
    expect(detail('record-expiry')).toMatch(
      /^127\.0\.4\.1:443 expires \d{4}-\d{2}-\d{2} \((19|20) days left\)$/,
    );
    expect(detail('dry-run-lb')).toMatch(
      new RegExp(`^lb: simulated renewal succeeded for ${LAB_TLS_NAME} \\(`),
    );
    expect(detail('renew-lb')).toMatch(new RegExp(`^lb: renewed ${LAB_TLS_NAME} \\(`));
    expect(detail('reload-lb')).toBe('lb: nginx reloaded');
    expect(outcome.observations).toMatchObject({ renewed: { lb: [LAB_TLS_NAME] }, notDue: { lb: [] } });

    expect(verify.ok, `${verify.detail} | ${verify.after}`).toBe(true);
    expect(verify.before).toMatch(/^127\.0\.4\.1:443 expires \d{4}-\d{2}-\d{2}$/);
    expect(verify.after).toMatch(/^127\.0\.4\.1:443 expires \d{4}-\d{2}-\d{2} \((89|90) days left\)$/);
    expect(verify.detail).toMatch(/^renewed and served: 127\.0\.4\.1:443: \S+ → \S+ \(\+70 days\)$/);
    expect(verify.evidence.map((e) => `${e.diagnostic}:${e.status}`)).toEqual(['tls-expiry:ok']);

    // What nginx serves, seen by our own handshake: a new certificate, ~70 days later.
    const after = await servedSettled();
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(Math.round((after.notAfter - before.notAfter) / DAY_MS)).toBe(70);
    expect(liveVersion()).not.toBe(versionBefore);
    expect(tookMs).toBeLessThan(30_000);
  }, 120_000);

  it('again: nothing is due, nothing changes, and verification says so', async () => {
    const before = await servedSettled();
    const version = liveVersion();
    const { outcome, verify } = await run();
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(outcome.steps.find((s) => s.stepId === 'renew-lb')?.detail).toMatch(
      new RegExp(`^lb: not due yet: ${LAB_TLS_NAME} \\(expires \\d{4}-\\d{2}-\\d{2}\\) \\(`),
    );
    expect(verify.ok, verify.detail).toBe(true);
    expect(verify.detail).toBe(
      'nothing was due for renewal; the served certificates are unchanged and not close to expiry',
    );
    expect(liveVersion()).toBe(version);
    expect(await servedSettled()).toEqual(before);
  }, 120_000);
});
