/**
 * The lab fleet through the bot's own SSH adapter: the runbook's literal commands on the simulated
 * hosts, against real sshd, the real QNWIS app stand-in and its real logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Faults } from '../../lab/faults.js';
import { getHost, type Inventory, serviceUrl } from '../../src/inventory.js';
import { checkHealth } from '../../src/ops/adapters/http.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import {
  errorLogErrors,
  serviceIsActive,
  serviceMainPid,
  serviceRestart,
} from '../../src/ops/host-commands.js';
import { lab, labInventory } from '../support/lab.js';

let inventory: Inventory;
let ssh: SshRunner;

beforeAll(() => {
  inventory = labInventory();
  ssh = new SshRunner({ connectTimeoutMs: 5000 });
});
afterAll(async () => {
  await new Faults(lab).heal('error-rate');
  await ssh.close();
});

const healthUrl = (host: string) =>
  serviceUrl(inventory.services.get('qnwis')?.healthUrl ?? '', getHost(inventory, host));

describe('the lab fleet over SSH', () => {
  it('sudo systemctl restart qnwis on app-02 yields a new PID and a healthy /health', async () => {
    const app02 = getHost(inventory, 'app-02');
    const before = Number((await ssh.run(app02, serviceMainPid, { unit: 'qnwis' })).stdout.trim());
    expect(before).toBeGreaterThan(0);

    await ssh.run(app02, serviceRestart, { unit: 'qnwis' });

    const after = Number((await ssh.run(app02, serviceMainPid, { unit: 'qnwis' })).stdout.trim());
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect((await ssh.run(app02, serviceIsActive, { unit: 'qnwis' })).stdout.trim()).toBe('active');
    // Like systemd with Type=simple, restart returns once the process runs; the app then needs a
    // moment to listen. The runbook's health gate polls.
    const health = await pollHealth(healthUrl('app-02'), 15_000);
    expect(health).toMatchObject({ ok: true, status: 200 });
    expect(health.body).toMatchObject({ status: 'healthy', host: 'app-02' });
  });

  it('tail -n 500 /var/log/qnwis/error.log | grep ERROR returns that host’s lines only', async () => {
    const faults = new Faults(lab);
    await faults.inject('error-rate', 'app-01');
    // Let the built-in load fail a few queries on app-01, then stop the fault.
    await new Promise((r) => setTimeout(r, 2000));
    await faults.heal('error-rate');

    const app01Lines = await errorLines('app-01');
    expect(app01Lines.length).toBeGreaterThan(0);
    expect(new Set(app01Lines.map((l) => l.host))).toEqual(new Set(['app-01']));
    for (const l of app01Lines) expect(l.level).toBe('ERROR');

    // app-02 saw no fault: whatever it has logged is its own.
    for (const l of await errorLines('app-02')) expect(l.host).toBe('app-02');
  });

  it('reports a stopped service as inactive (exit 3 is an answer, not a failure)', async () => {
    const app03 = getHost(inventory, 'app-03');
    expect((await ssh.run(app03, serviceIsActive, { unit: 'no-such-unit' })).exitCode).toBe(4);
    expect((await ssh.run(app03, serviceIsActive, { unit: 'qnwis' })).exitCode).toBe(0);
  });
});

async function pollHealth(url: string, withinMs: number) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const health = await checkHealth(url, { timeoutMs: 1000 });
    if (health.ok || Date.now() > deadline) return health;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function errorLines(hostName: string): Promise<{ host: string; level: string }[]> {
  const result = await ssh.run(getHost(inventory, hostName), errorLogErrors, {
    lines: 500,
    file: '/var/log/qnwis/error.log',
  });
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { host: string; level: string });
}
