import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, UnknownHostError } from '../../src/errors.js';
import { getHost, hostsWithRole, parseInventory, serviceUrl } from '../../src/inventory.js';

const labYaml = readFileSync('lab/inventory.yaml', 'utf8');

function issuesOf(yaml: string) {
  try {
    parseInventory(yaml, '/etc/qnwis/inventory.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('inventory', () => {
  it('loads the lab fleet: the runbook hosts with their roles', () => {
    const inv = parseInventory(labYaml, '/repo/lab/inventory.yaml');
    expect([...inv.hosts.keys()]).toEqual([
      'app-01',
      'app-02',
      'app-03',
      'db-primary',
      'db-replica',
      'redis-01',
      'redis-02',
      'lb',
    ]);
    expect(hostsWithRole(inv, 'app').map((h) => h.address)).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
    const app02 = getHost(inv, 'app-02', 'app');
    // Relative paths are resolved against the inventory file, not the working directory.
    expect(app02.ssh).toMatchObject({ port: 2222, user: 'root', keyPath: '/repo/.lab/ssh/id_ed25519' });
    expect(inv.cache.keyPattern).toBe('qnwis:cache:*');
    expect(serviceUrl(inv.services.get('qnwis')?.healthUrl ?? '', app02)).toBe(
      'http://127.0.1.2:8000/health',
    );
  });

  it('loads the production example', () => {
    const inv = parseInventory(
      readFileSync('config/inventory.example.yaml', 'utf8'),
      'config/inventory.example.yaml',
    );
    expect(inv.hosts.size).toBe(8);
    expect(inv.database.passwordEnv).toBe('QNWIS_DB_PASSWORD');
  });

  it('names the exact path of a bad value', () => {
    const bad = labYaml.replace(
      'app-02: { address: 127.0.1.2, roles: [app] }',
      'app-02: { address: 127.0.1.2, roles: [app], ssh: { port: 99999 } }',
    );
    expect(issuesOf(bad)).toEqual([expect.objectContaining({ path: 'hosts.app-02.ssh.port' })]);
  });

  it('rejects unknown roles and unknown keys with their paths', () => {
    const bad = labYaml
      .replace('roles: [db-replica]', 'roles: [database]')
      .replace('app_pool_size: 20', 'app_pool_size: 20\n  pasword_env: X');
    expect(
      issuesOf(bad)
        .map((i) => i.path)
        .sort(),
    ).toEqual(['database', 'hosts.db-replica.roles.0']);
  });

  it('refuses a host whose key is not pinned', () => {
    const bad = labYaml.replace('  known_hosts: ../.lab/ssh/known_hosts\n', '');
    const issues = issuesOf(bad);
    expect(issues).toHaveLength(8);
    expect(issues[0]).toMatchObject({
      path: 'hosts.app-01.ssh.host_key',
      message: expect.stringContaining('not pinned'),
    });
  });

  it('refuses a cache pattern that is not a literal prefix', () => {
    expect(issuesOf(labYaml.replace('"qnwis:cache:*"', '"*"'))).toEqual([
      expect.objectContaining({ path: 'cache.key_pattern' }),
    ]);
  });

  it('refuses inline secrets: only env var names are accepted', () => {
    expect(issuesOf(labYaml.replace('password_env: QNWIS_DB_PASSWORD', 'password_env: s3cr3t-pass'))).toEqual(
      [expect.objectContaining({ path: 'database.password_env' })],
    );
  });

  it('reports YAML syntax errors with their line', () => {
    const issues = issuesOf('version: 1\nhosts: [\n');
    expect(issues[0]?.path).toMatch(/^line \d+/);
  });

  it('refuses host names that are not in the inventory', () => {
    const inv = parseInventory(labYaml, 'lab/inventory.yaml');
    expect(() => getHost(inv, 'app-09')).toThrow(UnknownHostError);
    expect(() => getHost(inv, 'db-primary', 'app')).toThrow(/does not have role app/);
  });
});
