import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Runs the real entry point the way an operator does and returns its exit code and stderr. */
async function start(env: Record<string, string>, args: string[] = []) {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 20_000,
    });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

const labSecrets = { QNWIS_DB_PASSWORD: 'x', QNWIS_ADMIN_TOKEN: 'y' };

describe('start-up refuses bad configuration', () => {
  it('exits 1 with one line per bad variable, naming it', async () => {
    const { code, stderr } = await start({ PORT: 'eighty', LOG_LEVEL: 'chatty' });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toContain('configuration is invalid');
    expect(
      lines
        .slice(1)
        .map((l) => l.trim().split(':')[0])
        .sort(),
    ).toEqual(['LOG_LEVEL', 'PORT']);
  });

  it('never prints a secret it refuses', async () => {
    const { code, stderr } = await start({
      DATABASE_URL: 'mysql://bot:TopSecretPassw0rd@db/state',
      ...labSecrets,
    });
    expect(code).toBe(1);
    expect(stderr).toContain('DATABASE_URL');
    expect(stderr).not.toContain('TopSecretPassw0rd');
  });

  it('refuses to keep its queue in the fleet cache Redis', async () => {
    const { code, stderr } = await start({ REDIS_URL: 'redis://127.0.3.1:6379/1', ...labSecrets });
    expect(code).toBe(1);
    expect(stderr).toMatch(/REDIS_URL: points at the QNWIS cache redis-01/);
  });

  it('names the missing secrets the inventory requires', async () => {
    const { code, stderr } = await start({});
    expect(code).toBe(1);
    expect(stderr).toMatch(/QNWIS_DB_PASSWORD: is required by the inventory \(database\.password_env\)/);
    expect(stderr).toMatch(/QNWIS_ADMIN_TOKEN: is required by the inventory/);
  });

  it('names the exact inventory key that is wrong', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inv-'));
    const file = path.join(dir, 'inventory.yaml');
    writeFileSync(
      file,
      'version: 1\nssh: { key_path: k, known_hosts: kh }\nhosts:\n  app-02: { address: 10.0.0.2, roles: [app], ssh: { port: 0 } }\ndatabase: { name: q, user: u }\ncache: {}\n',
    );
    const { code, stderr } = await start({ INVENTORY_PATH: file, ...labSecrets });
    expect(code).toBe(1);
    expect(stderr).toContain(`inventory ${file} is invalid`);
    expect(stderr).toMatch(/hosts\.app-02\.ssh\.port: /);
  });

  it('says which inventory file it cannot read', async () => {
    const { code, stderr } = await start({ INVENTORY_PATH: '/nonexistent/inventory.yaml' });
    expect(code).toBe(1);
    expect(stderr).toContain('cannot read /nonexistent/inventory.yaml: ENOENT');
  });

  it('rejects an unknown role', async () => {
    const { code, stderr } = await start(labSecrets, ['--role', 'janitor']);
    expect(code).toBe(1);
    expect(stderr).toContain('--role: must be one of bot, worker, all');
  });
});
