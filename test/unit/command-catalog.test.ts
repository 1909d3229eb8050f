/**
 * The command catalog (issue 6 item 1): every runbook fix is named, its arguments are checked
 * against the inventory before anything else sees them, and what it claims about itself (risk,
 * destructive, targets, approval rule) matches the issue. The injection corpus is thrown at every
 * argument: identifiers reject all of it; the one free-text argument (the maintenance notice) keeps
 * only one bounded line of plain text.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeRule } from '../../src/incidents/approvals.js';
import { parseInventory } from '../../src/inventory.js';
import {
  approvalRuleFor,
  argsFromButton,
  CATALOG,
  type CatalogInventory,
  COMMAND_NAMES,
  type CommandName,
  describeCommand,
  isDestructive,
  type ParseCommandResult,
  type ParsedCommand,
  parseCommand,
  RISKS,
  requestFacts,
  riskOf,
  targetsOf,
} from '../../src/ops/commands/catalog.js';
import { proposeActions } from '../../src/ops/playbooks.js';

const inv = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');

function ok(name: string, args: unknown, inventory: CatalogInventory = inv): ParsedCommand {
  const r = parseCommand(name, args, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command;
}

function refused(name: string, args: unknown, inventory: CatalogInventory = inv): string {
  const r: ParseCommandResult = parseCommand(name, args, inventory);
  if (r.ok) throw new Error(`${name} ${JSON.stringify(args)} was accepted: ${JSON.stringify(r.command)}`);
  return r.error;
}

describe('the catalog names the runbook’s fixes', () => {
  it('has exactly the commands of issue 6, each registered under its own name', () => {
    expect([...COMMAND_NAMES]).toEqual([
      'restart',
      'rolling-restart',
      'restart-redis',
      'kill-query',
      'flush-cache',
      'flushdb',
      'warm-cache',
      'maintenance',
      'vacuum-analyze',
      'reindex',
      'analyze',
      'backup',
      'verify-backup',
      'cert-renew',
      'failover',
    ]);
    for (const name of COMMAND_NAMES) {
      expect(CATALOG[name].name).toBe(name);
      expect(RISKS).toContain(CATALOG[name].risk);
      expect(CATALOG[name].usage.startsWith(name)).toBe(true);
    }
  });

  const RISK_AND_DESTRUCTIVE: Record<CommandName, [string, boolean]> = {
    restart: ['medium', false],
    'rolling-restart': ['high', true],
    'restart-redis': ['high', true],
    'kill-query': ['medium', false],
    'flush-cache': ['low', false],
    flushdb: ['critical', true],
    'warm-cache': ['low', false],
    maintenance: ['medium', false],
    'vacuum-analyze': ['medium', false],
    reindex: ['high', false],
    analyze: ['low', false],
    backup: ['low', false],
    'verify-backup': ['medium', false],
    'cert-renew': ['medium', false],
    failover: ['critical', true],
  };
  it.each(COMMAND_NAMES)('%s: baseline risk and destructiveness', (name) => {
    expect([CATALOG[name].risk, CATALOG[name].destructive]).toEqual(RISK_AND_DESTRUCTIVE[name]);
  });

  it('the destructive ones are exactly those issue 6 item 4 names, plus a restore over a real database', () => {
    const destructive = COMMAND_NAMES.filter((n) => CATALOG[n].destructive);
    expect(destructive).toEqual(['rolling-restart', 'restart-redis', 'flushdb', 'failover']);
    const intoProd = ok('verify-backup', { into: 'qnwis_prod' });
    expect(isDestructive(intoProd, inv)).toBe(true);
    expect(riskOf(intoProd, inv)).toBe('critical');
    expect(isDestructive(ok('verify-backup', {}), inv)).toBe(false);
    expect(riskOf(ok('flush-cache', { pattern: 'qnwis:cache:query:*' }), inv)).toBe('medium');
    expect(riskOf(ok('flush-cache', { key: 'qnwis:cache:query:q_1' }), inv)).toBe('low');
  });

  it('each syntax key is an argument the schema accepts', () => {
    for (const name of COMMAND_NAMES) {
      const { positional, flags } = CATALOG[name].syntax;
      for (const key of [...positional, ...Object.values(flags).map((f) => f.key)]) {
        const r = parseCommand(name, { [key]: 'x' }, inv);
        if (!r.ok) expect(r.error).not.toMatch(/unknown argument/);
      }
    }
  });
});

describe('arguments come out resolved', () => {
  it.each([
    ['restart', { host: 'app-02' }, { host: 'app-02' }, 'restart app-02'],
    [
      'rolling-restart',
      {},
      { hosts: ['app-01', 'app-02', 'app-03'], waitSec: 30 },
      'rolling-restart app-01, app-02, app-03 (wait 30s)',
    ],
    [
      'rolling-restart',
      { hosts: ['app-03', 'app-01'], wait: '2m' },
      { hosts: ['app-03', 'app-01'], waitSec: 120 },
      'rolling-restart app-03, app-01 (wait 120s)',
    ],
    ['restart-redis', { host: 'redis-02' }, { host: 'redis-02' }, 'restart-redis redis-02'],
    ['kill-query', { pid: '12345' }, { pid: 12345 }, 'kill-query 12345'],
    ['kill-query', { pid: 12345 }, { pid: 12345 }, 'kill-query 12345'],
    [
      'flush-cache',
      { key: 'qnwis:cache:query:q_2024_001234' },
      { kind: 'key', key: 'qnwis:cache:query:q_2024_001234' },
      'flush-cache qnwis:cache:query:q_2024_001234',
    ],
    [
      'flush-cache',
      { pattern: 'qnwis:cache:query:q_2024_*' },
      { kind: 'pattern', pattern: 'qnwis:cache:query:q_2024_*', maxKeys: 1000 },
      'flush-cache --pattern qnwis:cache:query:q_2024_*',
    ],
    ['flushdb', {}, {}, 'flushdb'],
    ['warm-cache', {}, { host: 'app-01' }, 'warm-cache on app-01'],
    [
      'maintenance',
      { mode: 'on', message: '  Scheduled maintenance; back at 03:00  ', for: '2h' },
      { mode: 'on', message: 'Scheduled maintenance; back at 03:00', forSec: 7200 },
      'maintenance on for 2h: "Scheduled maintenance; back at 03:00"',
    ],
    ['maintenance', { mode: 'off' }, { mode: 'off' }, 'maintenance off'],
    ['vacuum-analyze', {}, { table: null }, 'vacuum-analyze (every table)'],
    [
      'reindex',
      { table: 'qtr_employment_stats' },
      { table: 'qtr_employment_stats' },
      'reindex qtr_employment_stats',
    ],
    ['analyze', { table: 'audit.query_log' }, { table: 'audit.query_log' }, 'analyze audit.query_log'],
    ['backup', {}, {}, 'backup'],
    ['verify-backup', {}, { into: 'qnwis_test' }, 'verify-backup into qnwis_test'],
    ['cert-renew', {}, {}, 'cert-renew'],
    ['failover', {}, { to: 'db-replica', force: false }, 'failover to db-replica'],
    [
      'failover',
      { to: 'db-replica', force: true },
      { to: 'db-replica', force: true },
      'failover to db-replica (--force)',
    ],
  ] as const)('%s %j', (name, raw, args, summary) => {
    const cmd = ok(name, raw);
    expect(cmd.args).toEqual(args);
    expect(describeCommand(cmd)).toBe(summary);
  });

  it('a missing arguments object means none', () => {
    expect(ok('backup', undefined).args).toEqual({});
  });
});

describe('targets (what an open request blocks)', () => {
  it.each([
    ['restart', { host: 'app-02' }, [['host', 'app-02']]],
    [
      'rolling-restart',
      {},
      [
        ['host', 'app-01'],
        ['host', 'app-02'],
        ['host', 'app-03'],
      ],
    ],
    ['restart-redis', { host: 'redis-01' }, [['host', 'redis-01']]],
    ['kill-query', { pid: 77 }, [['db', 'qnwis_prod', 'backend', '77']]],
    ['flush-cache', { key: 'qnwis:cache:a' }, [['cache', 'key', 'qnwis:cache:a']]],
    ['flush-cache', { pattern: 'qnwis:cache:a*' }, [['cache', 'pattern', 'qnwis:cache:a*']]],
    ['flushdb', {}, [['cache']]],
    ['warm-cache', {}, [['cache', 'warm']]],
    ['maintenance', { mode: 'off' }, [['maintenance']]],
    ['vacuum-analyze', {}, [['db', 'qnwis_prod', 'tables']]],
    ['reindex', { table: 't1' }, [['db', 'qnwis_prod', 'tables', 't1']]],
    ['analyze', { table: 't1' }, [['db', 'qnwis_prod', 'tables', 't1']]],
    ['backup', {}, [['db', 'qnwis_prod', 'backup']]],
    ['verify-backup', {}, [['db', 'qnwis_test']]],
    ['cert-renew', {}, [['tls'], ['host', 'lb']]],
    [
      'failover',
      {},
      [
        ['db', 'qnwis_prod'],
        ['host', 'db-primary'],
        ['host', 'db-replica'],
        ['host', 'app-01'],
        ['host', 'app-02'],
        ['host', 'app-03'],
      ],
    ],
  ] as const)('%s %j', (name, raw, targets) => {
    expect(targetsOf(ok(name, raw), inv)).toEqual(targets);
  });
});

describe('hosts: the inventory’s exact names, with the right role', () => {
  const HOST_ARGS: readonly {
    name: CommandName;
    build: (h: string) => Record<string, unknown>;
    valid: string[];
  }[] = [
    { name: 'restart', build: (h) => ({ host: h }), valid: ['app-01', 'app-02', 'app-03'] },
    {
      name: 'rolling-restart',
      build: (h) => ({ hosts: ['app-01', h] }),
      valid: ['app-01', 'app-02', 'app-03'],
    },
    { name: 'restart-redis', build: (h) => ({ host: h }), valid: ['redis-01', 'redis-02'] },
    { name: 'warm-cache', build: (h) => ({ host: h }), valid: ['app-01', 'app-02', 'app-03'] },
    { name: 'failover', build: (h) => ({ to: h }), valid: ['db-replica'] },
  ];

  it.each(HOST_ARGS)(
    '$name: an unknown host is refused with the valid ones listed',
    ({ name, build, valid }) => {
      const error = refused(name, build('app-9'));
      expect(error).toContain('unknown host "app-9"');
      for (const h of valid) expect(error).toContain(h);
    },
  );

  it.each(HOST_ARGS)(
    '$name: a host with another role is refused with the valid ones listed',
    ({ name, build, valid }) => {
      const error = refused(name, build('lb'));
      expect(error).toMatch(/"lb" is not an? /);
      expect(error).toContain(valid.join(', '));
    },
  );

  it('the exact wording', () => {
    expect(refused('restart', { host: 'app-9' })).toBe(
      'restart: unknown host "app-9"; app hosts: app-01, app-02, app-03',
    );
    expect(refused('restart', { host: 'db-primary' })).toBe(
      'restart: "db-primary" is not an app host; app hosts: app-01, app-02, app-03',
    );
    expect(refused('restart', {})).toBe('restart: host is required');
  });

  it('rolling-restart refuses an empty list, a repeated host and a non-list', () => {
    expect(refused('rolling-restart', { hosts: [] })).toMatch(/hosts is empty/);
    expect(refused('rolling-restart', { hosts: ['app-01', 'app-01'] })).toMatch(/names "app-01" twice/);
    expect(refused('rolling-restart', { hosts: 'app-01,app-02' })).toMatch(/must be a list/);
  });

  it('failover needs --to when the inventory has several replicas', () => {
    const two: CatalogInventory = {
      hosts: new Map([
        ['db-a', { roles: ['db-primary'] as const }],
        ['db-b', { roles: ['db-replica'] as const }],
        ['db-c', { roles: ['db-replica'] as const }],
      ]),
      database: { name: 'qnwis_prod', scratchDatabase: undefined },
      cache: { keyPattern: 'qnwis:cache:*' },
    };
    expect(refused('failover', {}, two)).toBe('failover: name the replica: database replicas: db-b, db-c');
    expect(ok('failover', { to: 'db-c' }, two).args).toEqual({ to: 'db-c', force: false });
  });
});

describe('cache keys stay inside the inventory’s key pattern', () => {
  it.each(['qnwis:other:x', 'QNWIS:cache:x', 'qnwis:cachex', 'x:qnwis:cache:y', 'qnwis:cache'])(
    'key %j is refused as outside qnwis:cache:*',
    (key) => {
      expect(refused('flush-cache', { key })).toContain('is outside the cache key space qnwis:cache:*');
    },
  );

  it('the bare prefix, a glob, and both key and pattern are refused', () => {
    expect(refused('flush-cache', { key: 'qnwis:cache:' })).toContain('outside the cache key space');
    expect(refused('flush-cache', { key: 'qnwis:cache:query:*' })).toContain('contains glob characters');
    expect(refused('flush-cache', { key: 'qnwis:cache:a', pattern: 'qnwis:cache:b*' })).toBe(
      'flush-cache: give exactly one of key or pattern',
    );
    expect(refused('flush-cache', {})).toBe('flush-cache: give exactly one of key or pattern');
    expect(refused('flush-cache', { key: 'qnwis:cache:a', maxKeys: 5 })).toContain('maxKeys only applies');
  });

  it.each(['*', 'qnwis:*', 'qnwis:cach?:*', 'other:*'])('pattern %j is refused as outside', (pattern) => {
    expect(refused('flush-cache', { pattern })).toContain('outside the cache key space qnwis:cache:*');
  });

  it.each(['qnwis:cache:*', 'qnwis:cache:**', 'qnwis:cache:?*', 'qnwis:cache:[a-z]*', 'qnwis:cache:'])(
    'pattern %j spans the whole key space: refused (that is flushdb, with its two approvals)',
    (pattern) => {
      expect(refused('flush-cache', { pattern })).toMatch(
        /whole cache key space|outside the cache key space/,
      );
    },
  );

  it('maxKeys is bounded', () => {
    expect(ok('flush-cache', { pattern: 'qnwis:cache:q*', maxKeys: '10000' }).args).toMatchObject({
      maxKeys: 10000,
    });
    expect(refused('flush-cache', { pattern: 'qnwis:cache:q*', maxKeys: 10001 })).toContain(
      'from 1 to 10000',
    );
  });
});

describe('numbers, durations and names', () => {
  it.each(['0', '-1', '4194305', '1e3', '0x10', '12.5', ' 12', '12 ', '', 12.5, -3, true, null, [], {}])(
    'pid %j is refused',
    (pid) => {
      expect(parseCommand('kill-query', { pid }, inv).ok).toBe(false);
    },
  );

  it.each(['1', '4194304', 4194304])('pid %j is accepted', (pid) => {
    expect(ok('kill-query', { pid }).args).toEqual({ pid: Number(pid) });
  });

  it('durations: units, bounds', () => {
    const on = (f: unknown) => parseCommand('maintenance', { mode: 'on', message: 'x', for: f }, inv);
    expect(on('90m')).toMatchObject({ ok: true, command: { args: { forSec: 5400 } } });
    expect(on('1d')).toMatchObject({ ok: true, command: { args: { forSec: 86400 } } });
    expect(on(600)).toMatchObject({ ok: true, command: { args: { forSec: 600 } } });
    expect(on('2d')).toMatchObject({ ok: false, error: 'maintenance: for must be between 5m and 1d' });
    expect(on('1m')).toMatchObject({ ok: false });
    expect(on('2 h')).toMatchObject({
      ok: false,
      error: 'maintenance: for "2 h" is not a duration like 30m, 2h or 1d',
    });
    expect(refused('rolling-restart', { wait: '1s' })).toContain('wait must be between 5s and 10m');
  });

  it.each(['qtr_employment_stats', 'audit.query_log', '_t', 'a1'])('table %j is accepted', (table) => {
    expect(ok('reindex', { table }).args).toEqual({ table });
  });

  it.each([
    'Users',
    'users; drop table users',
    '"users"',
    'a.b.c',
    '1users',
    'pg_catalog.pg_class',
    'information_schema.tables',
    'users--',
    'users ',
    `t${'x'.repeat(63)}`,
  ])('table %j is refused', (table) => {
    for (const name of ['reindex', 'analyze', 'vacuum-analyze'] as const) {
      expect(parseCommand(name, { table }, inv).ok).toBe(false);
    }
  });

  it.each(['postgres', 'template1', 'QNWIS', 'qnwis-prod', 'qnwis_prod;'])(
    'restore target %j is refused',
    (into) => {
      expect(parseCommand('verify-backup', { into }, inv).ok).toBe(false);
    },
  );

  it('unknown arguments and unknown commands are refused with what is valid', () => {
    expect(refused('restart', { host: 'app-01', now: true })).toBe(
      'restart: unknown argument "now"; usage: restart HOST',
    );
    expect(refused('backup', { into: 'x' })).toBe('backup: unknown argument "into"; usage: backup');
    expect(refused('reboot', {})).toBe(`unknown command "reboot"; commands: ${COMMAND_NAMES.join(', ')}`);
    expect(refused('maintenance', { mode: 'maybe' })).toBe('maintenance: mode must be "on" or "off"');
    expect(refused('failover', { force: 'yes' })).toBe('failover: force must be true or false');
  });
});

describe('verify-backup: restoring into anything but the scratch database needs two approvals', () => {
  it('into the scratch database (the default): 1 approval by L2 or above', () => {
    const cmd = ok('verify-backup', {});
    expect(cmd.args).toEqual({ into: 'qnwis_test' });
    expect(describeRule(approvalRuleFor(cmd, inv))).toBe('1 approval by L2 or above');
    expect(requestFacts(cmd, inv).ruleKey).toBe('verify-backup:scratch');
  });

  it.each(['qnwis_prod', 'qnwis_staging', 'qnwis_test2'])(
    'into %s: 2 approvals, at least one by L2 or above',
    (into) => {
      const cmd = ok('verify-backup', { into });
      expect(describeRule(approvalRuleFor(cmd, inv))).toBe('2 approvals, at least one by L2 or above');
      expect(requestFacts(cmd, inv).ruleKey).toBe('verify-backup:other');
      expect(isDestructive(cmd, inv)).toBe(true);
    },
  );

  it('with no scratch database in the inventory, the target must be named, and anything named is "other"', () => {
    const noScratch: CatalogInventory = {
      ...inv,
      database: { name: 'qnwis_prod', scratchDatabase: undefined },
    };
    expect(refused('verify-backup', {}, noScratch)).toContain('names no scratch database');
    const cmd = ok('verify-backup', { into: 'qnwis_test' }, noScratch);
    expect(describeRule(approvalRuleFor(cmd, noScratch))).toBe('2 approvals, at least one by L2 or above');
  });
});

describe('playbook buttons parse like typed commands', () => {
  it('every proposed fix of the lab’s playbooks yields valid arguments', () => {
    const pgQueries = {
      diagnostic: 'pg-active-queries',
      target: 'db-primary',
      status: 'warn' as const,
      summary: '1 query over 5 s',
      durationMs: 3,
      data: { queries: [{ pid: 4242, ageMs: 60_000, query: 'SELECT pg_sleep(600)' }] },
    };
    const actions = [
      ...proposeActions({ alertname: 'HighErrorRate', hosts: ['app-02'] }, [], inv),
      ...proposeActions({ alertname: 'ServiceDown', hosts: ['app-03'] }, [], inv),
      ...proposeActions({ alertname: 'DatabaseDown', hosts: [] }, [], inv),
      ...proposeActions({ alertname: 'QueryLatencyHigh', hosts: [] }, [pgQueries], inv),
      ...proposeActions({ alertname: 'LowCacheHitRate', hosts: [] }, [], inv),
    ];
    expect(new Set(actions.map((a) => a.command))).toEqual(
      new Set(['restart', 'failover', 'kill-query', 'warm-cache']),
    );
    for (const a of actions) {
      const r = parseCommand(a.command, argsFromButton(a.command, a.target), inv);
      expect(r.ok, `${a.command} ${a.target}: ${r.ok ? '' : r.error}`).toBe(true);
    }
    expect(ok('kill-query', argsFromButton('kill-query', '12345')).args).toEqual({ pid: 12345 });
  });
});

// ---------------------------------------------------------------------------------------------
// The injection corpus (as test/unit/commands-injection.test.ts), against every argument

const CORPUS: readonly string[] = [
  '; touch /tmp/pwned',
  '&& touch /tmp/pwned',
  '|| touch /tmp/pwned',
  '| touch /tmp/pwned',
  '$(touch /tmp/pwned)',
  '`touch /tmp/pwned`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion is the payload.
  '${IFS}touch${IFS}/tmp/pwned',
  "'; touch /tmp/pwned; '",
  '"; touch /tmp/pwned; "',
  "it's",
  '"',
  "'",
  'a\ntouch /tmp/pwned',
  'a\r\ntouch /tmp/pwned',
  '> /tmp/pwned',
  '< /etc/passwd',
  '../../../etc/passwd',
  '/etc/shadow',
  '-f /etc/shadow',
  '--include=*',
  '\\',
  '\\; touch /tmp/pwned',
  'a\0b',
  'аpp-01', // Cyrillic а
  'app‐01', // U+2010 hyphen
  'app-01\u200b',
  'ａｐｐ-０１', // fullwidth
  '\u202e10-ppa',
  'qnwis_prod\u200b',
  'qtr_employment_stats;',
  '%s%n%x',
  '<!channel> <@U0ONCALL01>',
  '*',
  '?',
  '[a-z]',
  ' ',
  '',
  'x'.repeat(10 * 1024),
  `${'$('.repeat(300)}touch /tmp/pwned${')'.repeat(300)}`,
];

/** Every argument that is not free text, as a way to place a payload into it. */
const SLOTS: readonly { slot: string; name: CommandName; build: (p: string) => Record<string, unknown> }[] = [
  { slot: 'restart HOST', name: 'restart', build: (p) => ({ host: p }) },
  { slot: 'rolling-restart HOSTS', name: 'rolling-restart', build: (p) => ({ hosts: [p] }) },
  {
    slot: 'rolling-restart HOSTS (second)',
    name: 'rolling-restart',
    build: (p) => ({ hosts: ['app-01', p] }),
  },
  { slot: 'rolling-restart --wait', name: 'rolling-restart', build: (p) => ({ wait: p }) },
  { slot: 'restart-redis HOST', name: 'restart-redis', build: (p) => ({ host: p }) },
  { slot: 'kill-query PID', name: 'kill-query', build: (p) => ({ pid: p }) },
  { slot: 'flush-cache KEY', name: 'flush-cache', build: (p) => ({ key: p }) },
  { slot: 'flush-cache --pattern', name: 'flush-cache', build: (p) => ({ pattern: p }) },
  {
    slot: 'flush-cache --max-keys',
    name: 'flush-cache',
    build: (p) => ({ pattern: 'qnwis:cache:q*', maxKeys: p }),
  },
  { slot: 'warm-cache HOST', name: 'warm-cache', build: (p) => ({ host: p }) },
  { slot: 'maintenance MODE', name: 'maintenance', build: (p) => ({ mode: p }) },
  { slot: 'maintenance --for', name: 'maintenance', build: (p) => ({ mode: 'on', message: 'x', for: p }) },
  { slot: 'vacuum-analyze TABLE', name: 'vacuum-analyze', build: (p) => ({ table: p }) },
  { slot: 'reindex TABLE', name: 'reindex', build: (p) => ({ table: p }) },
  { slot: 'analyze TABLE', name: 'analyze', build: (p) => ({ table: p }) },
  { slot: 'verify-backup --into', name: 'verify-backup', build: (p) => ({ into: p }) },
  { slot: 'failover --to', name: 'failover', build: (p) => ({ to: p }) },
  { slot: 'failover --force', name: 'failover', build: (p) => ({ force: p }) },
  { slot: 'an unknown argument name', name: 'backup', build: (p) => ({ [p]: 'x' }) },
];

describe('the injection corpus against every identifier argument: always refused', () => {
  const cases = SLOTS.flatMap((s) => CORPUS.map((payload, i) => ({ ...s, payload, i })));
  it.each(cases)('$slot ← corpus[$i]', ({ name, build, payload }) => {
    const r = parseCommand(name, build(payload), inv);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      // The refusal quotes at most a short, visible excerpt of what was typed.
      expect(r.error.length).toBeLessThan(400);
      expect(r.error).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    }
  });

  it('as the command name', () => {
    for (const payload of CORPUS) expect(parseCommand(payload, {}, inv).ok).toBe(false);
  });
});

describe('the corpus inside the cache key space: refused unless it is a plain key', () => {
  // A key or pattern is data for DEL/SCAN (never a shell), but the catalog still keeps to a
  // conservative alphabet: anything accepted must be exactly what was typed and plain.
  const PLAIN_KEY = /^qnwis:cache:[A-Za-z0-9:_.@=+,-]+$/;
  const PLAIN_PATTERN = /^qnwis:cache:[A-Za-z0-9:_.@=+,-][A-Za-z0-9:_.@=+,*?[\]^-]*$/;
  it.each(CORPUS.map((payload, i) => ({ payload, i })))('corpus[$i]', ({ payload }) => {
    const value = `qnwis:cache:${payload}`;
    const asKey = parseCommand('flush-cache', { key: value }, inv);
    if (asKey.ok) {
      expect(asKey.command.args).toEqual({ kind: 'key', key: value });
      expect(value).toMatch(PLAIN_KEY);
    }
    const asPattern = parseCommand('flush-cache', { pattern: value }, inv);
    if (asPattern.ok) {
      expect(asPattern.command.args).toMatchObject({ kind: 'pattern', pattern: value });
      expect(value).toMatch(PLAIN_PATTERN);
    }
  });

  it('the shell metacharacters, quotes, paths, NUL, look-alikes and 10 KB are all refused there', () => {
    const accepted = CORPUS.filter((p) => parseCommand('flush-cache', { key: `qnwis:cache:${p}` }, inv).ok);
    // Every payload carries at least one of ; & | $ ` ' " / \ < > * ? space, a control or non-ASCII
    // character, or is empty or 10 KB: none is a plain key.
    expect(accepted).toEqual([]);
  });
});

describe('the maintenance message: one bounded line of plain text, kept as data', () => {
  const REFUSED_AS_MESSAGE = [
    '$(touch /tmp/pwned)',
    '`touch /tmp/pwned`',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion is the payload.
    '${IFS}touch${IFS}/tmp/pwned',
    'a\ntouch /tmp/pwned',
    'a\r\ntouch /tmp/pwned',
    '> /tmp/pwned',
    '< /etc/passwd',
    '\\',
    '\\; touch /tmp/pwned',
    'a\0b',
    'app-01\u200b',
    '\u202e10-ppa',
    'qnwis_prod\u200b',
    '<!channel> <@U0ONCALL01>',
    ' ',
    '',
    'x'.repeat(10 * 1024),
    `${'$('.repeat(300)}touch /tmp/pwned${')'.repeat(300)}`,
  ];
  const message = (m: string) => parseCommand('maintenance', { mode: 'on', message: m }, inv);

  it.each(REFUSED_AS_MESSAGE.map((payload, i) => ({ payload, i })))('refused: #$i', ({ payload }) => {
    expect(message(payload).ok).toBe(false);
  });

  it('everything else in the corpus is kept verbatim (trimmed) and is one plain line', () => {
    for (const payload of CORPUS.filter((p) => !REFUSED_AS_MESSAGE.includes(p))) {
      const r = message(payload);
      expect(r.ok, JSON.stringify(payload)).toBe(true);
      if (!r.ok || r.command.name !== 'maintenance' || r.command.args.mode !== 'on') continue;
      expect(r.command.args.message).toBe(payload.trim());
      expect(r.command.args.message).not.toMatch(/[\p{Cc}\p{Cf}\u2028\u2029`$<>\\]/u);
      expect(r.command.args.message.length).toBeLessThanOrEqual(200);
    }
  });

  it('real notices, in English and Arabic, are fine', () => {
    expect(message('Scheduled maintenance in progress').ok).toBe(true);
    expect(message('صيانة مجدولة — نعود الساعة 03:00').ok).toBe(true);
    expect(message('x'.repeat(201)).ok).toBe(false);
  });
});
