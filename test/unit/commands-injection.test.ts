/**
 * The injection corpus against every argument of `/qnwis`: each payload is either rejected by the
 * parser or kept as data. For the one argument that reaches a shell (`--grep`), the exact wire
 * command the SSH adapter would send is executed here by a real `sh`, with `tail` and `grep`
 * replaced by stubs that record their argv: the payload must arrive as one argv entry, and the
 * marker file the payloads try to create must never appear.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseContextFromInventory,
  parseQnwisCommand,
  type QnwisCommand,
} from '../../src/bot/commands/parse.js';
import { parseInventory } from '../../src/inventory.js';
import { renderRemoteCommand } from '../../src/ops/adapters/ssh.js';
import { logGrepTail, logTailGrep } from '../../src/ops/log-commands.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');
const ctx = parseContextFromInventory(inventory);

let dir: string;
let marker: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qnwis-injection-'));
  marker = path.join(dir, 'pwned');
  // Stubs: each writes its argv, NUL-separated, to <name>.argv (one invocation each per run).
  for (const name of ['tail', 'grep']) {
    const stub = path.join(dir, name);
    writeFileSync(stub, `#!/bin/sh\nprintf '%s\\0' "$@" > '${dir}/${name}.argv'\n`);
    chmodSync(stub, 0o755);
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The corpus; `MARK` is replaced by a file the payload tries to create. */
const CORPUS: readonly string[] = [
  '; touch MARK',
  '&& touch MARK',
  '|| touch MARK',
  '| touch MARK',
  '$(touch MARK)',
  '`touch MARK`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion is the payload.
  '${IFS}touch${IFS}MARK',
  "'; touch MARK; '",
  '"; touch MARK; "',
  "it's",
  '"',
  "'",
  'a\ntouch MARK',
  'a\r\ntouch MARK',
  '> MARK',
  '< /etc/passwd',
  '../../../etc/passwd',
  '/etc/shadow',
  '-f /etc/shadow',
  '--include=*',
  '-e',
  '\\',
  '\\; touch MARK',
  'a\0b',
  'аpp-01', // Cyrillic а
  'app‐01', // U+2010 hyphen
  'app-01\u200b',
  'ａｐｐ-０１', // fullwidth
  '\u202e10-ppa',
  '%s%n%x',
  '<!channel> <@U0ONCALL01>',
  '*',
  '?',
  '[a-z]',
  'x'.repeat(10 * 1024),
  `${'$('.repeat(300)}touch MARK${')'.repeat(300)}`,
];

function payloads(): string[] {
  return CORPUS.map((p) => p.replaceAll('MARK', marker));
}

/** The ways a person could type a value: bare, double-quoted, single-quoted. */
function spellings(value: string): string[] {
  const out = [value, `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`];
  if (!value.includes("'")) out.push(`'${value}'`);
  return out;
}

function parsed(text: string): QnwisCommand | null {
  const r = parseQnwisCommand(text, ctx);
  return r.ok ? r.invocation.command : null;
}

/** Runs the exact wire command as the host's login shell would, with stubbed tail/grep. */
function runWire(wire: string): { argv: { cmd: string; argv: string[] }[]; status: number | null } {
  for (const name of ['grep', 'tail']) rmSync(path.join(dir, `${name}.argv`), { force: true });
  const res = spawnSync('/bin/sh', ['-c', wire], {
    env: { PATH: `${dir}:/usr/bin:/bin` },
    encoding: 'utf8',
    timeout: 10_000,
  });
  const argv: { cmd: string; argv: string[] }[] = [];
  for (const cmd of ['grep', 'tail']) {
    const file = path.join(dir, `${cmd}.argv`);
    if (!existsSync(file)) continue;
    argv.push({ cmd, argv: readFileSync(file, 'utf8').split('\0').slice(0, -1) });
  }
  return { argv, status: res.status };
}

describe('the injection corpus against every /qnwis argument', () => {
  it('as the verb, a help topic, a db view, a redis view, an incident id: always rejected', () => {
    for (const p of payloads()) {
      for (const s of spellings(p)) {
        for (const text of [s, `help ${s}`, `db ${s}`, `redis ${s}`, `incident ${s}`, `${s} --private`]) {
          const c = parsed(text);
          // Bare payloads may split into words, e.g. "; touch …"; none of them may form a command
          // other than help without a topic (the empty-ish cases) — and never run anything.
          if (c !== null) expect(c).toEqual({ verb: 'help', topic: null });
        }
      }
    }
  });

  it('as a host or a log name: never accepted unless it is the inventory’s exact name', () => {
    for (const p of payloads()) {
      for (const s of spellings(p)) {
        const asHost = parsed(`logs ${s}`);
        if (asHost) expect(inventory.hosts.has((asHost as { host: string }).host)).toBe(true);
        expect(parsed(`logs ${s} error`)).toBeNull();
        const asLog = parsed(`logs app-01 ${s}`);
        if (asLog) expect(['app', 'error', 'audit']).toContain((asLog as { log: string }).log);
      }
    }
    // The look-alikes specifically.
    for (const lookAlike of ['аpp-01', 'app‐01', 'app-01\u200b', 'ａｐｐ-０１']) {
      expect(parsed(`logs ${lookAlike}`)).toBeNull();
    }
  });

  it('as --lines: only a plain integer 1..1000', () => {
    for (const p of payloads()) {
      for (const s of spellings(p)) {
        expect(parsed(`logs app-01 --lines ${s}`)).toBeNull();
        expect(parsed(`logs app-01 --lines=${s}`)).toBeNull();
      }
    }
  });

  it('as a redis pattern: outside the key space rejected; inside it, kept verbatim for SCAN (no shell)', () => {
    for (const p of payloads()) {
      for (const s of spellings(p)) expect(parsed(`redis keys ${s}`)).toBeNull();
      const inside = `qnwis:cache:${p}`;
      for (const s of spellings(inside)) {
        const c = parsed(`redis keys ${s}`);
        if (c === null) continue;
        expect(c).toMatchObject({ verb: 'redis', view: 'keys' });
        const pattern = (c as { pattern: string }).pattern;
        expect(pattern.startsWith('qnwis:cache:')).toBe(true);
        expect(pattern).not.toMatch(/[\p{Cc}\p{Cf}]/u);
        expect(pattern.length).toBeLessThanOrEqual(512);
      }
    }
  });

  it('as --grep: rejected, or one argv entry of grep -F -e, exactly as typed; nothing else runs', {
    timeout: 60_000,
  }, () => {
    let accepted = 0;
    let rejected = 0;
    for (const p of payloads()) {
      for (const s of spellings(p)) {
        for (const text of [`logs app-01 error --grep ${s}`, `logs app-01 --grep=${s} --lines 5`]) {
          const c = parsed(text);
          if (c === null) {
            rejected++;
            continue;
          }
          if (c.verb !== 'logs' || c.grep === null)
            throw new Error(`unexpected parse of ${JSON.stringify(text)}`);
          accepted++;
          const grep = c.grep;
          expect(grep).not.toMatch(/[\p{Cc}\p{Cf}\u2028\u2029]/u);
          expect(grep.length).toBeLessThanOrEqual(200);
          const file = '/var/log/qnwis/error.log';
          const wire = renderRemoteCommand(logTailGrep, { lines: c.lines, file, pattern: grep });
          const run = runWire(wire);
          expect(existsSync(marker)).toBe(false);
          expect(run.argv).toEqual([
            { cmd: 'grep', argv: ['-F', '-e', grep] },
            { cmd: 'tail', argv: ['-n', String(c.lines), file] },
          ]);
          // The security template puts the same value in the same place.
          const wire2 = renderRemoteCommand(logGrepTail, { lines: 100, file, pattern: grep });
          const run2 = runWire(wire2);
          expect(existsSync(marker)).toBe(false);
          expect(run2.argv).toEqual([
            { cmd: 'grep', argv: ['-F', '-e', grep, file] },
            { cmd: 'tail', argv: ['-n', '100'] },
          ]);
        }
      }
    }
    // The corpus exercises both outcomes.
    expect(accepted).toBeGreaterThan(20);
    expect(rejected).toBeGreaterThan(10);
  });

  it('specific payloads: what is kept is exactly what was typed', () => {
    const cases: [string, string | null][] = [
      [`--grep "$(touch ${marker})"`, `$(touch ${marker})`],
      ['--grep "`id`"', '`id`'],
      ["--grep '; rm -rf / #'", '; rm -rf / #'],
      ['--grep "it\'s"', "it's"],
      ['--grep "../../etc/passwd"', '../../etc/passwd'],
      ['--grep "a\nb"', null],
      ['--grep "a\u0000b"', null],
      ['--grep "\u202eevil"', null],
      [`--grep "${'x'.repeat(10 * 1024)}"`, null],
    ];
    for (const [args, expected] of cases) {
      const c = parsed(`logs app-01 ${args}`);
      if (expected === null) expect(c).toBeNull();
      else expect(c).toMatchObject({ verb: 'logs', grep: expected });
    }
  });
});
