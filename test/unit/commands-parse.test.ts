import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MAX_TEXT_LENGTH,
  type ParseResult,
  parseContextFromInventory,
  parseQnwisCommand,
} from '../../src/bot/commands/parse.js';
import { decodeSlackEntities, tokenize } from '../../src/bot/commands/tokenize.js';
import { GREP_MAX_LENGTH, LOG_LINES, VERB_SPECS, VERBS } from '../../src/bot/commands/usage.js';
import { parseInventory } from '../../src/inventory.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');
const ctx = parseContextFromInventory(inventory);
const parse = (text: string) => parseQnwisCommand(text, ctx);

function command(text: string) {
  const r = parse(text);
  if (!r.ok) throw new Error(`expected "${text}" to parse, got: ${r.error}`);
  return r.invocation.command;
}

function failure(text: string): Extract<ParseResult, { ok: false }> {
  const r = parse(text);
  if (r.ok) throw new Error(`expected "${text}" to fail, got ${JSON.stringify(r.invocation)}`);
  return r;
}

describe('tokenize', () => {
  it('splits on whitespace and groups quotes, marking quoted words', () => {
    const r = tokenize(`logs app-01 --grep "connection pool" 'x y'  z`);
    expect(r).toEqual({
      ok: true,
      tokens: [
        { value: 'logs', quoted: false },
        { value: 'app-01', quoted: false },
        { value: '--grep', quoted: false },
        { value: 'connection pool', quoted: true },
        { value: 'x y', quoted: true },
        { value: 'z', quoted: false },
      ],
    });
  });

  it('handles escapes inside double quotes only, typographic quotes, and adjacent quoting', () => {
    expect(tokenize(String.raw`"a \"b\" \\ c"`)).toEqual({
      ok: true,
      tokens: [{ value: 'a "b" \\ c', quoted: true }],
    });
    // As in sh: no escapes inside '…', so the second ' closes and the third one never does.
    expect(tokenize(String.raw`'a \' b'`)).toEqual({ ok: false, error: "the quote ' is never closed" });
    expect(tokenize(String.raw`'a \' b`)).toEqual({
      ok: true,
      tokens: [
        { value: 'a \\', quoted: true },
        { value: 'b', quoted: false },
      ],
    });
    expect(tokenize('“smart quotes” ‘too’')).toEqual({
      ok: true,
      tokens: [
        { value: 'smart quotes', quoted: true },
        { value: 'too', quoted: true },
      ],
    });
    expect(tokenize('user_id="a b"c')).toEqual({
      ok: true,
      tokens: [{ value: 'user_id=a bc', quoted: true }],
    });
    expect(tokenize('"" x')).toEqual({
      ok: true,
      tokens: [
        { value: '', quoted: true },
        { value: 'x', quoted: false },
      ],
    });
  });

  it('refuses an unterminated quote', () => {
    expect(tokenize('logs "app-01')).toEqual({ ok: false, error: 'the quote " is never closed' });
  });

  it("decodes exactly Slack's three entities, once", () => {
    expect(decodeSlackEntities('a &lt;b&gt; &amp; &amp;lt; &quot;')).toBe('a <b> & &lt; &quot;');
  });
});

describe('parseQnwisCommand: verbs', () => {
  it('empty text is help', () => {
    expect(command('')).toEqual({ verb: 'help', topic: null });
    expect(command('   ')).toEqual({ verb: 'help', topic: null });
  });

  it('help with and without a topic', () => {
    expect(command('help')).toEqual({ verb: 'help', topic: null });
    expect(command('help logs')).toEqual({ verb: 'help', topic: 'logs' });
    expect(command('HELP DB')).toEqual({ verb: 'help', topic: 'db' });
    expect(failure('help nope')).toMatchObject({ verb: 'help', usage: VERB_SPECS.help.usage });
  });

  it.each(['status', 'security', 'cert', 'incidents'] as const)('%s takes no arguments', (verb) => {
    expect(command(verb)).toEqual({ verb });
    expect(command(verb.toUpperCase())).toEqual({ verb });
    const f = failure(`${verb} extra`);
    expect(f.verb).toBe(verb);
    expect(f.error).toBe('unexpected argument "extra"');
    expect(f.usage).toBe(VERB_SPECS[verb].usage);
  });

  it('db views', () => {
    for (const view of [
      'connections',
      'activity',
      'slow',
      'statements',
      'tables',
      'seqscans',
      'lag',
    ] as const) {
      expect(command(`db ${view}`)).toEqual({ verb: 'db', view });
    }
    expect(command('db SLOW')).toEqual({ verb: 'db', view: 'slow' });
    expect(failure('db').error).toMatch(/say which view: connections, activity/);
    expect(failure('db drop')).toMatchObject({ verb: 'db', usage: VERB_SPECS.db.usage });
    expect(failure('db slow now').error).toBe('unexpected argument "now"');
  });

  it('redis views and keys', () => {
    expect(command('redis memory')).toEqual({ verb: 'redis', view: 'memory' });
    expect(command('redis stats')).toEqual({ verb: 'redis', view: 'stats' });
    expect(command("redis keys 'qnwis:cache:*'")).toEqual({
      verb: 'redis',
      view: 'keys',
      pattern: 'qnwis:cache:*',
    });
    expect(command('redis keys qnwis:cache:query:q_2026_*')).toEqual({
      verb: 'redis',
      view: 'keys',
      pattern: 'qnwis:cache:query:q_2026_*',
    });
    // Without a pattern: the whole cache key space, never everything.
    expect(command('redis keys')).toEqual({ verb: 'redis', view: 'keys', pattern: 'qnwis:cache:*' });
    expect(failure('redis flushall')).toMatchObject({ verb: 'redis', usage: VERB_SPECS.redis.usage });
  });

  it.each(["'*'", '*', 'qnwis:*', 'qnwis:cach?:*', 'other:cache:*', '"[q]nwis:cache:*"', "''"])(
    'redis keys %s is outside the key space',
    (pattern) => {
      const f = failure(`redis keys ${pattern}`);
      expect(f.verb).toBe('redis');
      expect(f.error).toMatch(/outside the cache key space: it must start with "qnwis:cache:"|pattern/);
    },
  );

  it('a post-mortem link is an http(s) URL, and only for postmortem', () => {
    expect(command('postmortem QNWIS-42 --link https://wiki.example/pm/42')).toEqual({
      verb: 'postmortem',
      id: 42,
      key: 'QNWIS-42',
      link: 'https://wiki.example/pm/42',
    });
    expect(command('postmortem --link=http://w/pm 42')).toMatchObject({ id: 42, link: 'http://w/pm' });
    expect(command('postmortem 42')).toEqual({ verb: 'postmortem', id: 42, key: 'QNWIS-42' });
    for (const bad of ['javascript:alert(1)', 'ftp://x/y', 'https://a b', 'https://x/<!channel>']) {
      expect(failure(`postmortem 42 --link "${bad}"`).error).toMatch(/--link must be an http\(s\) URL/);
    }
    expect(failure('postmortem 42 --link').error).toMatch(/--link needs a value/);
    expect(failure('incident 42 --link https://x').error).toMatch(/unknown option/);
  });

  it('incident ids', () => {
    expect(command('incident QNWIS-42')).toEqual({ verb: 'incident', id: 42, key: 'QNWIS-42' });
    expect(command('incident qnwis-7')).toEqual({ verb: 'incident', id: 7, key: 'QNWIS-7' });
    expect(command('incident 123')).toEqual({ verb: 'incident', id: 123, key: 'QNWIS-123' });
    for (const bad of ['0', 'QNWIS-0', 'QNWIS-', 'abc', '12a', '-1', '1e3', '9999999999', 'QNWIS-42;ls']) {
      expect(failure(`incident ${bad}`)).toMatchObject({
        verb: 'incident',
        usage: VERB_SPECS.incident.usage,
      });
    }
    expect(failure('incident').error).toMatch(/say which incident/);
  });

  it('unknown verbs answer with every usage', () => {
    const f = failure('restart app-01');
    expect(f.verb).toBeNull();
    expect(f.error).toBe('unknown command "restart"');
    for (const v of VERBS) expect(f.usage).toContain(VERB_SPECS[v].usage);
    // A quoted verb is data, not a verb.
    expect(failure('"status"').error).toBe('unknown command "status"');
  });
});

describe('parseQnwisCommand: logs', () => {
  it('defaults: the app log, 100 lines, no grep', () => {
    expect(command('logs app-01')).toEqual({
      verb: 'logs',
      host: 'app-01',
      log: 'app',
      grep: null,
      lines: 100,
    });
  });

  it('log kinds come from the inventory of that host', () => {
    expect(command('logs app-02 error')).toMatchObject({ host: 'app-02', log: 'error' });
    expect(command('logs app-03 AUDIT')).toMatchObject({ log: 'audit' });
    // The load balancer's nginx logs: access (its default: it has no app log) and error.
    expect(command('logs lb')).toMatchObject({ host: 'lb', log: 'access' });
    expect(command('logs lb error')).toMatchObject({ host: 'lb', log: 'error' });
    expect(failure('logs lb audit').error).toBe('lb has no log "audit"; its logs: access, error');
    expect(failure('logs db-primary').error).toMatch(
      /^db-primary has no logs in the inventory; hosts with logs: app-01, app-02, app-03, lb$/,
    );
  });

  it('--lines N and --lines=N, bounded 1..1000', () => {
    expect(command('logs app-01 error --lines 200')).toMatchObject({ lines: 200 });
    expect(command('logs app-01 --lines=1 error')).toMatchObject({ lines: 1, log: 'error' });
    expect(command(`logs app-01 --lines ${LOG_LINES.max}`)).toMatchObject({ lines: 1000 });
    for (const bad of ['0', '1001', '99999999', '-5', '+5', '1e3', '0x10', '5.5', 'ten', '１０']) {
      const f = failure(`logs app-01 --lines ${bad}`);
      expect(f.verb).toBe('logs');
      expect(f.usage).toBe(VERB_SPECS.logs.usage);
    }
    expect(failure('logs app-01 --lines').error).toBe('--lines needs a value');
    expect(failure('logs app-01 --lines 5 --lines 6').error).toBe('--lines is given more than once');
  });

  it('--grep takes one (possibly quoted) fixed string', () => {
    expect(command('logs app-01 error --grep "connection pool"')).toMatchObject({ grep: 'connection pool' });
    expect(command("logs app-01 --grep 'query_id=q_2024_001234'")).toMatchObject({
      grep: 'query_id=q_2024_001234',
    });
    expect(command('logs app-01 audit --grep user_id=analyst_123')).toMatchObject({
      log: 'audit',
      grep: 'user_id=analyst_123',
    });
    expect(command('logs app-01 --grep=ERROR')).toMatchObject({ grep: 'ERROR' });
    expect(command('logs app-01 --grep “smart quotes”')).toMatchObject({ grep: 'smart quotes' });
    // A quoted value may start with dashes: it is data (grep gets it after -e).
    expect(command('logs app-01 --grep "--lines"')).toMatchObject({ grep: '--lines', lines: 100 });
    expect(command('logs app-01 --grep "-v"')).toMatchObject({ grep: '-v' });
    expect(command('logs app-01 --grep a&lt;b&gt;')).toMatchObject({ grep: 'a<b>' });
    expect(failure('logs app-01 --grep --lines 5').error).toBe('--grep needs a value');
    expect(failure('logs app-01 --grep ""').error).toBe('--grep needs some text to search for');
    expect(failure(`logs app-01 --grep ${'x'.repeat(GREP_MAX_LENGTH + 1)}`).error).toBe(
      `--grep text is ${GREP_MAX_LENGTH + 1} characters long (at most ${GREP_MAX_LENGTH})`,
    );
    expect(command(`logs app-01 --grep ${'x'.repeat(GREP_MAX_LENGTH)}`)).toMatchObject({ verb: 'logs' });
  });

  it('unknown host lists the valid ones, and hints at look-alikes without accepting them', () => {
    const f = failure('logs app-09');
    expect(f.verb).toBe('logs');
    expect(f.error).toBe('unknown host "app-09"; hosts with logs: app-01, app-02, app-03, lb');
    expect(failure('logs аpp-01').error).toBe(
      'unknown host "аpp-01" (did you mean app-01?); hosts with logs: app-01, app-02, app-03, lb',
    );
    expect(failure('logs APP-01').error).toMatch(/did you mean app-01\?/);
    expect(failure('logs app-01.qnwis.mol.gov.qa').error).toMatch(/^unknown host/);
    expect(failure('logs').error).toBe('say which host: app-01, app-02, app-03, lb');
  });

  it('unknown options and extra words are usage errors of logs', () => {
    expect(failure('logs app-01 --follow')).toMatchObject({
      verb: 'logs',
      error: 'unknown option "--follow"',
    });
    expect(failure('logs --follow app-01')).toMatchObject({
      verb: 'logs',
      error: 'unknown option "--follow"',
    });
    expect(failure('logs app-01 error extra')).toMatchObject({ error: 'unexpected argument "extra"' });
    expect(failure('logs app-01 error --grep a --grep b').error).toBe('--grep is given more than once');
  });
});

describe('parseQnwisCommand: --private and limits', () => {
  it('--private anywhere, once, on any verb', () => {
    const r = parse('--private status');
    expect(r).toEqual({ ok: true, invocation: { command: { verb: 'status' }, private: true } });
    expect(parse('logs app-01 --private --lines 5')).toMatchObject({
      ok: true,
      invocation: { private: true },
    });
    expect(parse('status')).toMatchObject({ ok: true, invocation: { private: false } });
    // Quoted, it is data: here an unexpected argument.
    expect(failure('status "--private"').error).toBe('unexpected argument "--private"');
    expect(failure('status --private --private').error).toBe('--private is given more than once');
    expect(failure('nope --private').private).toBe(true);
  });

  it('refuses text longer than the limit before looking at it', () => {
    const f = failure(`logs app-01 --grep ${'a'.repeat(MAX_TEXT_LENGTH)}`);
    expect(f.verb).toBeNull();
    expect(f.error).toMatch(/characters long \(at most 4000\)/);
  });

  it('an unterminated quote is a usage error', () => {
    expect(failure('logs app-01 --grep "oops').error).toBe('the quote " is never closed');
  });
});
