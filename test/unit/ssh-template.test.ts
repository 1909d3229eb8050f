import { execFileSync } from 'node:child_process';
import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidArgumentError, SshHostKeyMismatchError } from '../../src/errors.js';
import type { Host } from '../../src/inventory.js';
import {
  defineRemoteCommand,
  knownHostsFieldMatches,
  parseKnownHosts,
  pinsFromKnownHosts,
  type RemoteCommand,
  renderRemoteCommand,
  renderRemoteScript,
  resolveHostKeyPins,
  shellQuote,
  sshFingerprint,
} from '../../src/ops/adapters/ssh.js';

const echoArg = defineRemoteCommand({
  name: 'echo-arg',
  script: 'printf %s {{value}}',
  args: { value: z.string().max(1000) },
  timeoutSec: 5,
  allowLeadingDash: ['value'],
});

const tailErrors = defineRemoteCommand({
  name: 'tail-errors',
  script: 'tail -n {{lines}} {{file}} | grep ERROR',
  args: {
    lines: z.number().int().min(1).max(5000),
    file: z.string().regex(/^\/var\/log\/[a-z0-9/_.-]+$/),
  },
  timeoutSec: 10,
  okExitCodes: [0, 1],
});

const scratch = mkdtempSync(path.join(os.tmpdir(), 'ssh-template-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the exact wire command through a local sh, as the host's login shell would. */
function runLocally(wire: string): string {
  return execFileSync('sh', ['-c', wire], { encoding: 'utf8', cwd: scratch });
}

describe('rendering and escaping', () => {
  it('substitutes placeholders with single-quoted values and wraps the script in timeout + sh -c', () => {
    expect(renderRemoteScript(tailErrors, { lines: 500, file: '/var/log/qnwis/error.log' })).toBe(
      "tail -n '500' '/var/log/qnwis/error.log' | grep ERROR",
    );
    expect(renderRemoteCommand(tailErrors, { lines: 500, file: '/var/log/qnwis/error.log' })).toBe(
      `timeout --kill-after=2 10 sh -c 'tail -n '\\''500'\\'' '\\''/var/log/qnwis/error.log'\\'' | grep ERROR'`,
    );
  });

  it('shellQuote handles embedded single quotes', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe("''");
  });

  const hostile = [
    "'; touch PWNED; '",
    '$(touch PWNED)',
    '`touch PWNED`',
    'a\ntouch PWNED\n',
    '"; touch PWNED; "',
    "'\"'\"'$(touch PWNED)'\"",
    "\\'; touch PWNED; #",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion is the point of this case
    '${IFS}touch${IFS}PWNED',
    '; touch PWNED',
    '| touch PWNED',
    '&& touch PWNED',
    '* ? [a] ~ {a,b} !',
    'ünïcödé ✓ \t tab',
  ];
  for (const value of hostile) {
    it(`keeps ${JSON.stringify(value)} literal through both shells`, () => {
      const out = runLocally(renderRemoteCommand(echoArg, { value }));
      expect(out).toBe(value);
      expect(existsSync(path.join(scratch, 'PWNED'))).toBe(false);
    });
  }

  it('refuses placeholders inside quotes, unknown placeholders and unused args at definition time', () => {
    expect(() =>
      defineRemoteCommand({
        name: 'bad-quote',
        script: 'grep "{{p}}" f',
        args: { p: z.string() },
        timeoutSec: 1,
      }),
    ).toThrow(/inside " quotes/);
    expect(() =>
      defineRemoteCommand({
        name: 'bad-squote',
        script: "echo '{{p}}'",
        args: { p: z.string() },
        timeoutSec: 1,
      }),
    ).toThrow(/inside ' quotes/);
    expect(() =>
      defineRemoteCommand({ name: 'no-schema', script: 'echo {{p}}', args: {}, timeoutSec: 1 }),
    ).toThrow(/has no schema/);
    expect(() =>
      defineRemoteCommand({ name: 'unused', script: 'echo hi', args: { p: z.string() }, timeoutSec: 1 }),
    ).toThrow(/not used/);
    expect(() =>
      defineRemoteCommand({ name: 'malformed', script: 'echo {{ p }}', args: {}, timeoutSec: 1 }),
    ).toThrow(/malformed placeholder/);
    expect(() =>
      defineRemoteCommand({ name: 'Bad Name', script: 'true', args: {}, timeoutSec: 1 }),
    ).toThrow();
    expect(() => defineRemoteCommand({ name: 'zero', script: 'true', args: {}, timeoutSec: 0 })).toThrow();
    // An escaped quote does not open a quoted region.
    expect(
      defineRemoteCommand({
        name: 'escaped',
        script: "echo \\' {{p}}",
        args: { p: z.string() },
        timeoutSec: 1,
      }).placeholders,
    ).toEqual(['p']);
  });
});

describe('argument validation', () => {
  it('rejects values that fail the schema, with every problem named', () => {
    const run = (args: unknown) => () =>
      renderRemoteCommand(tailErrors, args as { lines: number; file: string });
    expect(run({ lines: 0, file: '/var/log/qnwis/error.log' })).toThrow(InvalidArgumentError);
    expect(run({ lines: '500', file: '/var/log/qnwis/error.log' })).toThrow(/lines/);
    expect(run({ lines: 500, file: '/etc/shadow' })).toThrow(/file/);
    expect(run({ lines: 500 })).toThrow(/file/);
    expect(run({ lines: 500, file: '/var/log/a.log', extra: 'x' })).toThrow(InvalidArgumentError);
  });

  it('refuses option-like strings unless the argument allows them, and NUL bytes always', () => {
    const grep = defineRemoteCommand({
      name: 'grep-log',
      script: 'grep -F -- {{needle}} /var/log/qnwis/app.log',
      args: { needle: z.string().min(1) },
      timeoutSec: 5,
    });
    expect(() => renderRemoteCommand(grep, { needle: '-f/etc/shadow' })).toThrow(/must not start with "-"/);
    expect(() => renderRemoteCommand(grep, { needle: 'a\0b' })).toThrow(/NUL/);
    expect(renderRemoteCommand(echoArg, { value: '--flag' })).toContain('--flag');
  });

  it('refuses command objects not made by defineRemoteCommand', () => {
    const forged = { ...echoArg, script: 'touch PWNED' } as RemoteCommand<typeof echoArg.args>;
    expect(() => renderRemoteCommand(forged, { value: 'x' })).toThrow(InvalidArgumentError);
  });

  it('applies zod transforms and defaults before rendering', () => {
    const cmd = defineRemoteCommand({
      name: 'journal',
      script: 'journalctl -u {{unit}} -n {{lines}} --no-pager',
      args: { unit: z.enum(['qnwis', 'nginx']), lines: z.number().int().default(100) },
      timeoutSec: 5,
    });
    expect(renderRemoteScript(cmd, { unit: 'qnwis' })).toBe("journalctl -u 'qnwis' -n '100' --no-pager");
  });
});

describe('fingerprints and known_hosts', () => {
  /** A real ed25519 public key blob in SSH wire format (string type, string key). */
  const blob = () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const type = Buffer.from('ssh-ed25519');
    const len = (b: Buffer) => {
      const l = Buffer.alloc(4);
      l.writeUInt32BE(b.length);
      return l;
    };
    return Buffer.concat([len(type), type, len(raw), raw]);
  };

  it('computes the OpenSSH SHA256 fingerprint (unpadded base64), same as ssh-keygen -l', () => {
    const dir = mkdtempSync(path.join(scratch, 'key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')]);
    const pub = execFileSync('cat', [path.join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ');
    const expected = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'k.pub')], {
      encoding: 'utf8',
    }).split(' ')[1];
    expect(sshFingerprint(Buffer.from(pub[1] ?? '', 'base64'))).toBe(expected);
    expect(expected).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('parses entries, markers, comments; matches [addr]:port, plain, wildcard, negated and hashed names', () => {
    const a = blob().toString('base64');
    const b = blob().toString('base64');
    const c = blob().toString('base64');
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[127.0.9.30]:2222').digest('base64')}`;
    const text = [
      '# comment',
      '',
      `[127.0.1.2]:2222 ssh-ed25519 ${a} app-02`,
      `127.0.1.3 ssh-ed25519 ${b}`,
      `127.0.2.*,!127.0.2.9 ssh-ed25519 ${c}`,
      `${hashed} ssh-ed25519 ${b}`,
      `@revoked [127.0.1.2]:2222 ssh-ed25519 ${c}`,
      `@cert-authority *.example ssh-ed25519 ${a}`,
      'garbage line',
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => e.line)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(entries[0]?.fingerprint).toBe(
      `SHA256:${createHash('sha256').update(Buffer.from(a, 'base64')).digest('base64').replace(/=+$/, '')}`,
    );

    const fp = (s: string) => sshFingerprint(Buffer.from(s, 'base64'));
    expect(pinsFromKnownHosts(entries, '127.0.1.2', 2222, 'f')).toMatchObject({
      accepted: [fp(a)],
      revoked: [fp(c)],
      keyTypes: ['ssh-ed25519'],
    });
    // Port 2222 does not match a port-22 entry, and vice versa.
    expect(pinsFromKnownHosts(entries, '127.0.1.3', 2222, 'f').accepted).toEqual([]);
    expect(pinsFromKnownHosts(entries, '127.0.1.3', 22, 'f').accepted).toEqual([fp(b)]);
    expect(pinsFromKnownHosts(entries, '127.0.2.1', 22, 'f').accepted).toEqual([fp(c)]);
    expect(pinsFromKnownHosts(entries, '127.0.2.9', 22, 'f').accepted).toEqual([]);
    expect(pinsFromKnownHosts(entries, '127.0.9.30', 2222, 'f').accepted).toEqual([fp(b)]);
    expect(pinsFromKnownHosts(entries, '127.0.9.31', 2222, 'f').accepted).toEqual([]);
    // The @cert-authority line never pins a host key.
    expect(knownHostsFieldMatches('127.0.1.10', '127.0.1.1', 22)).toBe(false);
  });

  it('resolves pins: inline host_key wins, a missing entry or file refuses', async () => {
    const file = path.join(scratch, 'known_hosts');
    const a = blob().toString('base64');
    execFileSync('sh', ['-c', `printf '%s\\n' "[127.0.9.40]:2222 ssh-ed25519 ${a}" > ${shellQuote(file)}`]);
    const host = (ssh: Partial<Host['ssh']>): Host => ({
      name: 'app-x',
      address: '127.0.9.40',
      roles: ['app'],
      description: undefined,
      ssh: {
        port: 2222,
        user: 'root',
        keyPath: '/nonexistent',
        hostKey: undefined,
        knownHostsPath: undefined,
        ...ssh,
      },
    });
    const inline = `SHA256:${'A'.repeat(43)}`;
    expect((await resolveHostKeyPins(host({ hostKey: inline, knownHostsPath: file }))).accepted).toEqual([
      inline,
    ]);
    expect((await resolveHostKeyPins(host({ knownHostsPath: file }))).accepted).toEqual([
      sshFingerprint(Buffer.from(a, 'base64')),
    ]);
    await expect(resolveHostKeyPins(host({}))).rejects.toBeInstanceOf(SshHostKeyMismatchError);
    await expect(resolveHostKeyPins(host({ knownHostsPath: `${file}.missing` }))).rejects.toThrow(
      /cannot read/,
    );
    await expect(
      resolveHostKeyPins({ ...host({ knownHostsPath: file }), address: '127.0.9.41' }),
    ).rejects.toThrow(/no entry for \[127\.0\.9\.41\]:2222/);
  });
});
