import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkInventorySecrets,
  checkStoresSeparateFromFleet,
  configSchema,
  parseConfig,
  SECRET_VARIABLES,
} from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory.js';

const labInventory = () => parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');

function configIssues(env: Record<string, string>) {
  try {
    parseConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has working defaults for the local lab', () => {
    const config = parseConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.INVENTORY_PATH).toBe('lab/inventory.yaml');
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379/0');
  });

  it('names every bad variable, one issue each', () => {
    const issues = configIssues({ PORT: '70000', LOG_LEVEL: 'loud', SSH_COMMAND_TIMEOUT_SEC: 'soon' });
    expect(issues.map((i) => i.path).sort()).toEqual(['LOG_LEVEL', 'PORT', 'SSH_COMMAND_TIMEOUT_SEC']);
  });

  it('never repeats a secret value in its messages', () => {
    const secret = 'hunter2-but-longer-secret';
    let message = '';
    try {
      parseConfig({ DATABASE_URL: `mysql://u:${secret}@db/x`, REDIS_URL: `http://:${secret}@r` });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('REDIS_URL');
    expect(message).not.toContain(secret);
  });

  it('takes severity overrides and routing rules as JSON, naming a bad one', () => {
    expect(parseConfig({ ALERT_SEVERITIES: '{"DiskFull":"SEV-2"}' }).ALERT_SEVERITIES).toEqual({
      DiskFull: 'SEV-2',
    });
    expect(configIssues({ ALERT_SEVERITIES: '{"DiskFull":"SEV-9"}' }).map((i) => i.path)).toEqual([
      'ALERT_SEVERITIES.DiskFull',
    ]);
    expect(configIssues({ SLACK_ROUTES: 'not json' })).toEqual([
      { path: 'SLACK_ROUTES', message: 'is not valid JSON' },
    ]);
    expect(
      parseConfig({ SLACK_ROUTES: '[{"match":["service=postgres"],"channel":"qnwis-db"}]' }).SLACK_ROUTES,
    ).toHaveLength(1);
  });

  it('treats empty strings as unset so blank .env lines keep the defaults', () => {
    expect(parseConfig({ PORT: '', ALERTMANAGER_WEBHOOK_TOKEN: '' }).PORT).toBe(3000);
  });

  it('lists every variable in .env.example', () => {
    const example = readFileSync('.env.example', 'utf8');
    const documented = new Set([...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(Object.keys(configSchema.shape).sort());
  });

  it('marks the credentials as secrets', () => {
    for (const v of ['DATABASE_URL', 'REDIS_URL', 'ALERTMANAGER_WEBHOOK_TOKEN', 'QNWIS_DB_PASSWORD']) {
      expect(SECRET_VARIABLES.has(v)).toBe(true);
    }
  });
});

describe('the bot stores are kept apart from the fleet', () => {
  it('accepts the defaults against the lab fleet', () => {
    expect(checkStoresSeparateFromFleet(parseConfig({}), labInventory())).toEqual([]);
  });

  it('refuses REDIS_URL pointing at the fleet cache', () => {
    const issues = checkStoresSeparateFromFleet(
      parseConfig({ REDIS_URL: 'redis://127.0.3.1:6379/5' }),
      labInventory(),
    );
    expect(issues).toEqual([
      expect.objectContaining({ path: 'REDIS_URL', message: expect.stringContaining('redis-01') }),
    ]);
  });

  it('refuses DATABASE_URL on the QNWIS database server, whatever the database name', () => {
    const issues = checkStoresSeparateFromFleet(
      parseConfig({ DATABASE_URL: 'postgres://bot@127.0.2.2:5432/chatops' }),
      labInventory(),
    );
    expect(issues).toEqual([
      expect.objectContaining({ path: 'DATABASE_URL', message: expect.stringContaining('db-replica') }),
    ]);
  });

  it('requires the secrets the inventory names', () => {
    const issues = checkInventorySecrets(parseConfig({}), labInventory());
    expect(issues.map((i) => i.path).sort()).toEqual(['QNWIS_ADMIN_TOKEN', 'QNWIS_DB_PASSWORD']);
    expect(
      checkInventorySecrets(parseConfig({ QNWIS_ADMIN_TOKEN: 'a', QNWIS_DB_PASSWORD: 'b' }), labInventory()),
    ).toEqual([]);
  });
});
