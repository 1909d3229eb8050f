/**
 * Every string a diagnostic takes from a request — host names, service names, log kinds, schema,
 * TLS endpoint, the diagnostic's name itself — fed shell metacharacters, newlines, quotes, path
 * traversal, NUL, Unicode look-alikes and 10 KB strings. Each must be refused by the input schema
 * (nothing reaches SSH, PostgreSQL or Redis) and echoed, if at all, as one printable line. What does
 * reach a shell comes from the inventory and is checked and single-quoted by the SSH templates.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Host, type Inventory, loadInventory, parseInventory } from '../../src/inventory.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
} from '../../src/ops/adapters/ssh.js';
import {
  createDiagnosticContext,
  type DiagnosticRequest,
  runDiagnostics,
} from '../../src/ops/diagnostics/index.js';
import { errorLogErrors, memoryFree, processesByRss, serviceJournal } from '../../src/ops/host-commands.js';

const inventoryFile = fileURLToPath(new URL('../../lab/inventory.yaml', import.meta.url));
const labInventory: Inventory = loadInventory(inventoryFile);

/** Records every command that passed template validation (as SshRunner would send it). */
class RecordingSsh implements RemoteCommandRunner {
  readonly sent: string[] = [];
  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    args: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    const wire = renderRemoteCommand(command, args);
    this.sent.push(`${host.name}: ${wire}`);
    return {
      host: host.name,
      command: command.name,
      exitCode: command.name === 'error-log-errors' ? 1 : 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      durationMs: 0,
    };
  }
}

function recordingPort<T extends object>(calls: string[]): T {
  return new Proxy(
    {},
    {
      get: (_t, prop) =>
        typeof prop === 'string'
          ? (...args: unknown[]) => {
              calls.push(`${prop}(${args.map((a) => (a as Host)?.name ?? JSON.stringify(a)).join(', ')})`);
              return Promise.reject(new Error('not in this test'));
            }
          : undefined,
    },
  ) as T;
}

function setup(inventory: Inventory = labInventory) {
  const ssh = new RecordingSsh();
  const dbCalls: string[] = [];
  const cacheCalls: string[] = [];
  const ctx = createDiagnosticContext({
    inventory,
    ssh,
    db: recordingPort<FleetDatabase>(dbCalls),
    cache: recordingPort<FleetCache>(cacheCalls),
    adminToken: 'test-token',
    stepTimeoutMs: 1_000,
  });
  return { ctx, ssh, dbCalls, cacheCalls };
}

const PAYLOADS: readonly [string, string][] = [
  ['semicolon', '; touch /tmp/qnwis-pwned'],
  ['and-and', ' && id'],
  ['or-or', '|| reboot'],
  ['command substitution', '$(touch /tmp/qnwis-pwned)'],
  ['backticks', '`id`'],
  ['newline', '\nid'],
  ['carriage return', '\rid'],
  ['single quote', "'; id; '"],
  ['double quote', '"; id; "'],
  ['redirect', '> /etc/passwd'],
  ['glob', '*'],
  ['dash option', '--help'],
  ['path traversal', '../../../etc/shadow'],
  ['NUL', '\0'],
  ['Cyrillic a (аpp)', 'аpp-01'],
  ['Unicode hyphen', 'app‐01'],
  ['fullwidth', 'ａｐｐ-０１'],
  ['zero-width space', 'app-01\u200b'],
  ['10 KB', 'a'.repeat(10_240)],
];

/** The string fields of each diagnostic's input, with a valid value to graft the payload onto. */
const FIELDS: readonly { diagnostic: string; field: string; valid: string; target?: string }[] = [
  { diagnostic: 'service-status', field: 'target', valid: 'app-01' },
  { diagnostic: 'service-status', field: 'service', valid: 'qnwis', target: 'app-01' },
  { diagnostic: 'error-log', field: 'target', valid: 'app-01' },
  { diagnostic: 'error-log', field: 'log', valid: 'error', target: 'app-01' },
  { diagnostic: 'error-log', field: 'service', valid: 'qnwis', target: 'app-01' },
  { diagnostic: 'health', field: 'target', valid: 'app-01' },
  { diagnostic: 'health', field: 'service', valid: 'qnwis', target: 'app-01' },
  { diagnostic: 'memory', field: 'target', valid: 'app-03' },
  { diagnostic: 'pg-connections', field: 'target', valid: 'db-primary' },
  { diagnostic: 'pg-active-queries', field: 'target', valid: 'db-primary' },
  { diagnostic: 'pg-statements', field: 'target', valid: 'db-primary' },
  { diagnostic: 'pg-seqscans', field: 'target', valid: 'db-primary' },
  { diagnostic: 'pg-table-sizes', field: 'target', valid: 'db-primary' },
  { diagnostic: 'pg-table-sizes', field: 'schema', valid: 'public', target: 'db-primary' },
  { diagnostic: 'pg-replication', field: 'target', valid: 'db-replica' },
  { diagnostic: 'redis-stats', field: 'target', valid: 'redis-01' },
  { diagnostic: 'tls-expiry', field: 'target', valid: 'fleet' },
  { diagnostic: 'tls-expiry', field: 'endpoint', valid: 'api.qnwis.mol.gov.qa:443', target: 'fleet' },
];

function requestsFor(f: (typeof FIELDS)[number]): { label: string; request: DiagnosticRequest }[] {
  const out: { label: string; request: DiagnosticRequest }[] = [];
  for (const [name, payload] of PAYLOADS) {
    for (const value of new Set([payload, `${f.valid}${payload}`])) {
      const request: DiagnosticRequest =
        f.field === 'target'
          ? { diagnostic: f.diagnostic, target: value }
          : { diagnostic: f.diagnostic, target: f.target ?? '', input: { [f.field]: value } };
      out.push({ label: `${name}${value === payload ? '' : ' (appended)'}`, request });
    }
  }
  return out;
}

describe('hostile strings in diagnostic inputs', () => {
  for (const f of FIELDS) {
    it(`${f.diagnostic}.${f.field}: every payload is refused by the schema; nothing is sent anywhere`, async () => {
      const { ctx, ssh, dbCalls, cacheCalls } = setup();
      const cases = requestsFor(f);
      const results = await runDiagnostics(
        ctx,
        cases.map((c) => c.request),
      );
      results.forEach((r, i) => {
        const label = cases[i]?.label;
        // A target is repeated back only when it has the shape of a host name.
        expect(r.target, label).toMatch(/^([a-z][a-z0-9-]*|\(invalid target\))$/);
        expect({ label, status: r.status }).toEqual({ label, status: 'error' });
        // Refused by the schema, or (a well-formed name like "app-01--help") not found in the inventory.
        expect(r.summary, label).toMatch(
          /invalid input|not in the inventory|has no service .* in the inventory/,
        );
        // One printable line, bounded, whatever came in.
        expect(r.summary, label).toMatch(/^[\x20-\x7e—…]+$/);
        expect(r.summary.length, label).toBeLessThanOrEqual(400);
        expect(r.target.length, label).toBeLessThanOrEqual(64);
        expect(r.data, label).toBeUndefined();
      });
      expect(ssh.sent).toEqual([]);
      expect(dbCalls).toEqual([]);
      expect(cacheCalls).toEqual([]);
    });
  }

  it('the diagnostic name itself: unknown, echoed printable and short, nothing run', async () => {
    const { ctx, ssh } = setup();
    const results = await runDiagnostics(
      ctx,
      PAYLOADS.map(([, p]) => ({ diagnostic: `memory${p}`, target: 'app-01' })),
    );
    for (const r of results) {
      expect(r.status).toBe('error');
      expect(r.summary).toMatch(/^app-01: unknown diagnostic "(\(invalid name\)|memory--help)"/);
      expect(r.summary).toMatch(/^[\x20-\x7e—…]+$/);
      expect(r.diagnostic.length).toBeLessThanOrEqual(64);
    }
    // A prototype property is not a diagnostic either.
    const [proto] = await runDiagnostics(ctx, [{ diagnostic: 'constructor', target: 'app-01' }]);
    expect(proto?.status).toBe('error');
    expect(ssh.sent).toEqual([]);
  });

  it('numbers are numbers: strings, NaN, negatives and huge counts are refused', async () => {
    const { ctx, ssh } = setup();
    const bad = ['500; id', Number.NaN, -1, 1e9, 1.5, '$(id)'];
    const results = await runDiagnostics(
      ctx,
      bad.map((lines) => ({ diagnostic: 'error-log', target: 'app-01', input: { lines } })),
    );
    for (const r of results) expect(r.summary).toContain('invalid input');
    expect(ssh.sent).toEqual([]);
  });
});

describe('what does reach a shell comes from the inventory, validated and quoted', () => {
  it('the commands the diagnostics send, exactly', () => {
    expect(renderRemoteCommand(errorLogErrors, { lines: 500, file: '/var/log/qnwis/error.log' })).toBe(
      `timeout --kill-after=2 5 sh -c 'tail -n '\\''500'\\'' '\\''/var/log/qnwis/error.log'\\'' | grep ERROR'`,
    );
    expect(renderRemoteCommand(memoryFree, {})).toBe("timeout --kill-after=2 5 sh -c 'free -b'");
    expect(renderRemoteCommand(processesByRss, { lines: 11 })).toBe(
      `timeout --kill-after=2 5 sh -c 'ps -eo pid,rss,comm,args --sort=-rss | head -n '\\''11'\\'''`,
    );
    expect(renderRemoteCommand(serviceJournal, { unit: 'qnwis', lines: 100 })).toContain(
      `journalctl -u '\\''qnwis'\\'' -n '\\''100'\\'' --no-pager`,
    );
  });

  it('a hostile log path in an (edited) inventory is refused by the template before anything is sent', async () => {
    const yaml = readFileSync(inventoryFile, 'utf8').replace(
      'error: /var/log/qnwis/error.log',
      'error: "/var/log/qnwis/error.log; touch /tmp/qnwis-pwned"',
    );
    const inventory = parseInventory(yaml, inventoryFile);
    expect(inventory.services.get('qnwis')?.logs.error).toBe(
      '/var/log/qnwis/error.log; touch /tmp/qnwis-pwned',
    );
    const { ctx, ssh } = setup(inventory);
    const [r] = await runDiagnostics(ctx, [{ diagnostic: 'error-log', target: 'app-01' }]);
    expect(r?.status).toBe('error');
    expect(r?.summary).toMatch(
      /^app-01: error-log — invalid arguments for error-log-errors: file: must be an absolute path/,
    );
    expect(ssh.sent).toEqual([]);
  });

  it('a traversal path in the inventory is refused too', async () => {
    const yaml = readFileSync(inventoryFile, 'utf8').replace(
      'error: /var/log/qnwis/error.log',
      'error: /var/log/qnwis/../../../etc/shadow',
    );
    const { ctx, ssh } = setup(parseInventory(yaml, inventoryFile));
    const [r] = await runDiagnostics(ctx, [{ diagnostic: 'error-log', target: 'app-01' }]);
    expect(r?.summary).toContain('must not contain ..');
    expect(ssh.sent).toEqual([]);
  });
});
