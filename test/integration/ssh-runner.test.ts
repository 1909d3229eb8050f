/**
 * SshRunner against two real sshds on loopback (127.0.9.11/12:2222, reserved for this file),
 * started with the lab's own component. Nothing is mocked: keys, host keys, bind-mounted
 * /var/log, remote `timeout`, dropped connections are all real.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type ClientKey,
  ensureClientKey,
  type SshHostHandle,
  type SshHostSpec,
  startSshHost,
  stopSshHost,
} from '../../lab/components/sshd.js';
import {
  InvalidArgumentError,
  SshAuthError,
  SshExitError,
  SshHostKeyMismatchError,
  SshTimeoutError,
  SshUnreachableError,
} from '../../src/errors.js';
import type { Host } from '../../src/inventory.js';
import { createLogger } from '../../src/observability/logger.js';
import { defineRemoteCommand, SshRunner } from '../../src/ops/adapters/ssh.js';

const TEST_ROOT = path.resolve(import.meta.dirname, '../../.lab/test-tmp');
const HOSTS = [
  { name: 'ssh-test-01', address: '127.0.9.11' },
  { name: 'ssh-test-02', address: '127.0.9.12' },
] as const;
const PORT = 2222;

const echoWord = defineRemoteCommand({
  name: 'echo-word',
  script: 'echo {{word}}',
  args: { word: z.string().max(200) },
  timeoutSec: 5,
  allowLeadingDash: ['word'],
});
const tailErrors = defineRemoteCommand({
  name: 'tail-errors',
  script: 'tail -n {{lines}} {{file}} | grep ERROR',
  args: { lines: z.number().int().min(1).max(5000), file: z.string().regex(/^\/var\/log\/[a-z0-9/_.-]+$/) },
  timeoutSec: 10,
  okExitCodes: [0, 1],
});
const hang = defineRemoteCommand({
  name: 'hang',
  script: 'sleep {{seconds}}',
  args: { seconds: z.number().positive() },
  timeoutSec: 2,
});
const flood = defineRemoteCommand({
  name: 'flood',
  script: "head -c {{bytes}} /dev/zero | tr '\\0' x; echo done >&2",
  args: { bytes: z.number().int().positive() },
  timeoutSec: 5,
  maxOutputBytes: 1000,
});
const exitWith = defineRemoteCommand({
  name: 'exit-with',
  script: 'echo oops >&2; exit {{code}}',
  args: { code: z.number().int().min(0).max(255) },
  timeoutSec: 5,
});
const pauseEcho = defineRemoteCommand({
  name: 'pause-echo',
  script: 'sleep 0.3; echo {{n}}',
  args: { n: z.number().int() },
  timeoutSec: 5,
});

let base: string;
let key: ClientKey;
let wrongKey: ClientKey;
let knownHostsPath: string;
const handles = new Map<string, SshHostHandle>();
const specs = new Map<string, SshHostSpec>();
const runners: SshRunner[] = [];
const logLines: string[] = [];

function hostFor(name: string, ssh: Partial<Host['ssh']> = {}, address?: string): Host {
  const def = HOSTS.find((h) => h.name === name);
  return {
    name,
    address: address ?? def?.address ?? '127.0.9.250',
    roles: ['app'],
    description: undefined,
    ssh: {
      port: PORT,
      user: 'root',
      keyPath: key.privateKeyPath,
      hostKey: undefined,
      knownHostsPath,
      ...ssh,
    },
  };
}

function newRunner(opts: ConstructorParameters<typeof SshRunner>[0] = {}): SshRunner {
  const runner = new SshRunner(opts);
  runners.push(runner);
  return runner;
}

function acceptedLogins(hostName: string): number {
  const log = handles.get(hostName)?.logPath ?? '';
  return (readFileSync(log, 'utf8').match(/Accepted publickey/g) ?? []).length;
}

/** Live (non-zombie) processes whose command line contains `marker`; PID 1 reaps zombies late here. */
function liveProcesses(marker: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(marker) && !/^\s*\d+\s+Z/.test(l) && !l.includes('ps -eo'));
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

beforeAll(async () => {
  mkdirSync(TEST_ROOT, { recursive: true });
  // A crashed earlier run may have left its sshds on our reserved addresses.
  for (const stale of readdirSync(TEST_ROOT).filter((d) => d.startsWith('ssh-runner-'))) {
    for (const h of HOSTS) await stopSshHost(path.join(TEST_ROOT, stale, h.name));
    rmSync(path.join(TEST_ROOT, stale), { recursive: true, force: true });
  }
  base = mkdtempSync(path.join(TEST_ROOT, 'ssh-runner-'));
  key = await ensureClientKey(path.join(base, 'client'));
  wrongKey = await ensureClientKey(path.join(base, 'client-wrong'));
  const started = Date.now();
  await Promise.all(
    HOSTS.map(async (h) => {
      const spec: SshHostSpec = {
        name: h.name,
        address: h.address,
        port: PORT,
        hostDir: path.join(base, h.name),
        authorizedKeys: [key.publicKey],
        pathPrefix: [],
        setEnv: { QNWIS_LAB_HOST: h.name },
        binds: [],
      };
      specs.set(h.name, spec);
      handles.set(h.name, await startSshHost(spec));
      const logDir = path.join(spec.hostDir, 'log', 'qnwis');
      mkdirSync(logDir, { recursive: true });
      writeFileSync(
        path.join(logDir, 'error.log'),
        [
          `INFO boot ${h.name}`,
          `ERROR db timeout on ${h.name}`,
          'INFO ok',
          `ERROR second failure on ${h.name}`,
          'INFO last line',
          '',
        ].join('\n'),
      );
    }),
  );
  console.log(`two sshds up in ${Date.now() - started} ms`);
  knownHostsPath = path.join(base, 'known_hosts');
  writeFileSync(knownHostsPath, `${[...handles.values()].map((h) => h.knownHostsLine).join('\n')}\n`);
});

afterAll(async () => {
  await Promise.all(runners.map((r) => r.close()));
  if (!base) return;
  for (const h of HOSTS) await stopSshHost(path.join(base, h.name));
  rmSync(base, { recursive: true, force: true });
});

describe('SshRunner against real sshd', () => {
  it('runs a command and returns its output; logs carry no key material', async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    const runner = newRunner({ logger: createLogger({ level: 'debug', destination: sink }) });
    const result = await runner.run(hostFor('ssh-test-01'), echoWord, { word: 'hello' });
    expect(result).toMatchObject({
      host: 'ssh-test-01',
      command: 'echo-word',
      exitCode: 0,
      signal: null,
      stdout: 'hello\n',
      stderr: '',
      truncated: false,
    });
    expect(result.durationMs).toBeLessThan(1000);
    const logs = logLines.join('');
    expect(logs).toContain('"msg":"ssh connected"');
    expect(logs).toContain('"host":"ssh-test-01"');
    expect(logs).not.toContain('PRIVATE KEY');
    expect(logs).not.toContain(readFileSync(key.privateKeyPath, 'utf8').split('\n')[1]);
  });

  it('gives each host its own /var/log (bind mount inside the host namespace)', async () => {
    const runner = newRunner();
    const args = { lines: 500, file: '/var/log/qnwis/error.log' };
    const [one, two] = await Promise.all([
      runner.run(hostFor('ssh-test-01'), tailErrors, args),
      runner.run(hostFor('ssh-test-02'), tailErrors, args),
    ]);
    expect(one?.stdout).toBe('ERROR db timeout on ssh-test-01\nERROR second failure on ssh-test-01\n');
    expect(two?.stdout).toBe('ERROR db timeout on ssh-test-02\nERROR second failure on ssh-test-02\n');
    // grep finding nothing exits 1, which this template accepts.
    const none = await runner.run(hostFor('ssh-test-01'), tailErrors, {
      lines: 1,
      file: '/var/log/qnwis/error.log',
    });
    expect(none).toMatchObject({ exitCode: 1, stdout: '' });
  });

  it('keeps injection attempts in arguments inert', async () => {
    const runner = newRunner();
    const marker = `/tmp/qnwis-pwned-${process.pid}-${Date.now()}`;
    const attempts = [
      `'; touch ${marker}; '`,
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `x\ntouch ${marker}`,
      `"; touch ${marker}; echo "`,
      `\\'; touch ${marker}; #`,
    ];
    for (const word of attempts) {
      const result = await runner.run(hostFor('ssh-test-01'), echoWord, { word });
      expect(result.stdout).toBe(`${word}\n`);
    }
    expect(existsSync(marker)).toBe(false);
    await expect(
      runner.run(hostFor('ssh-test-01'), tailErrors, { lines: 5, file: '/etc/shadow' }),
    ).rejects.toThrow(InvalidArgumentError);
  });

  it('kills a hanging command on the host: SshTimeoutError within ~2-4 s and no sleep left behind', async () => {
    const runner = newRunner();
    const seconds = 600 + Math.floor(Math.random() * 10_000) / 10_000 + 0.00001;
    const marker = `sleep ${seconds}`;
    const started = Date.now();
    const err = await runner.run(hostFor('ssh-test-01'), hang, { seconds }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(SshTimeoutError);
    expect(err).toMatchObject({ host: 'ssh-test-01', phase: 'remote', transient: true });
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(4000);
    expect(await waitUntil(() => liveProcesses(marker).length === 0, 3000)).toBe(true);
  });

  it('when the local deadline fires first, the channel closes and the remote timeout still kills the command', async () => {
    // A negative margin makes our deadline fire before the host's `timeout`: the case of a host
    // that stops answering. The process must still die on the host.
    const runner = newRunner({ deadlineMarginMs: -1200 });
    const seconds = 700 + Math.floor(Math.random() * 10_000) / 10_000 + 0.00001;
    const marker = `sleep ${seconds}`;
    const started = Date.now();
    const err = await runner.run(hostFor('ssh-test-02'), hang, { seconds }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err).toMatchObject({ name: 'SshTimeoutError', phase: 'local', host: 'ssh-test-02' });
    expect(liveProcesses(marker).length).toBeGreaterThan(0); // still running: only the channel closed
    expect(await waitUntil(() => liveProcesses(marker).length === 0, 4000)).toBe(true);
    // The connection stays usable.
    expect((await runner.run(hostFor('ssh-test-02'), echoWord, { word: 'after' })).stdout).toBe('after\n');
  });

  it('reports a non-zero exit with code and stderr', async () => {
    const err = await newRunner()
      .run(hostFor('ssh-test-01'), exitWith, { code: 3 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshExitError);
    expect(err).toMatchObject({
      host: 'ssh-test-01',
      exitCode: 3,
      stderrExcerpt: 'oops\n',
      transient: false,
    });
  });

  it('fails fast with SshUnreachableError when nothing listens', async () => {
    const host = hostFor(
      'ssh-test-gone',
      { hostKey: handles.get('ssh-test-01')?.fingerprint },
      '127.0.9.250',
    );
    const started = Date.now();
    const err = await newRunner({ connectTimeoutMs: 3000 })
      .run(host, echoWord, { word: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshUnreachableError);
    expect(err).toMatchObject({ host: 'ssh-test-gone', phase: 'connect', transient: true });
    expect(String(err)).toContain('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('gives up with SshUnreachableError when a port accepts TCP but never speaks SSH', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.9.11', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const host = hostFor(
        'ssh-test-mute',
        { port, hostKey: handles.get('ssh-test-01')?.fingerprint },
        '127.0.9.11',
      );
      const started = Date.now();
      const err = await newRunner({ connectTimeoutMs: 1000 })
        .run(host, echoWord, { word: 'x' })
        .catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(SshUnreachableError);
      expect(err).toMatchObject({ host: 'ssh-test-mute', phase: 'connect', transient: true });
      expect(String(err)).toContain('no SSH handshake');
      expect(elapsed).toBeGreaterThanOrEqual(950);
      expect(elapsed).toBeLessThan(2000);
    } finally {
      silent.close();
    }
  });

  it('refuses a host whose key is not the pinned one, and a host with no pin at all', async () => {
    const runner = newRunner();
    const expected = handles.get('ssh-test-02')?.fingerprint ?? '';
    const presented = handles.get('ssh-test-01')?.fingerprint;
    const err = await runner
      .run(hostFor('ssh-test-01', { hostKey: expected }), echoWord, { word: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshHostKeyMismatchError);
    expect(err).toMatchObject({ host: 'ssh-test-01', expected: [expected], presented, transient: false });
    expect(String(err)).toContain(expected);
    expect(String(err)).toContain(presented);

    const emptyKnownHosts = path.join(base, 'known_hosts.empty');
    writeFileSync(emptyKnownHosts, '');
    const unpinned = await runner
      .run(hostFor('ssh-test-01', { knownHostsPath: emptyKnownHosts }), echoWord, { word: 'x' })
      .catch((e: unknown) => e);
    expect(unpinned).toBeInstanceOf(SshHostKeyMismatchError);
    expect(String(unpinned)).toMatch(/no pinned host key.*no entry for \[127\.0\.9\.11\]:2222/);
  });

  it('fails with SshAuthError when the host refuses our key', async () => {
    const err = await newRunner()
      .run(hostFor('ssh-test-01', { keyPath: wrongKey.privateKeyPath }), echoWord, { word: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshAuthError);
    expect(err).toMatchObject({ host: 'ssh-test-01', transient: false });
  });

  it('caps output and flags truncation', async () => {
    const result = await newRunner().run(hostFor('ssh-test-01'), flood, { bytes: 200_000 });
    expect(result.stdout).toBe('x'.repeat(1000));
    expect(result.stderr).toBe('done\n');
    expect(result.truncated).toBe(true);
  });

  it('reuses one connection for 20 sequential commands (no Nagle delay)', async () => {
    const runner = newRunner();
    const before = acceptedLogins('ssh-test-02');
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      const r = await runner.run(hostFor('ssh-test-02'), echoWord, { word: `n${i}` });
      expect(r.stdout).toBe(`n${i}\n`);
    }
    const elapsed = performance.now() - started;
    console.log(`20 sequential commands incl. connect: ${Math.round(elapsed)} ms`);
    expect(elapsed).toBeLessThan(800);
    expect(acceptedLogins('ssh-test-02') - before).toBe(1);
  });

  it('runs concurrent commands on one connection, capped per host', async () => {
    const runner = newRunner({ maxConcurrentPerHost: 4 });
    const before = acceptedLogins('ssh-test-02');
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, n) => runner.run(hostFor('ssh-test-02'), pauseEcho, { n })),
    );
    const elapsed = performance.now() - started;
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 12 }, (_, n) => `${n}\n`));
    // 12 commands of 0.3 s, 4 at a time: three waves.
    expect(elapsed).toBeGreaterThanOrEqual(850);
    expect(elapsed).toBeLessThan(2500);
    expect(acceptedLogins('ssh-test-02') - before).toBe(1);
  });

  it('reconnects after the host’s sshd was stopped and started again', async () => {
    const runner = newRunner();
    const host = hostFor('ssh-test-02');
    expect((await runner.run(host, echoWord, { word: 'first' })).stdout).toBe('first\n');
    const spec = specs.get('ssh-test-02');
    if (!spec) throw new Error('no spec');

    const previous = handles.get('ssh-test-02');
    await stopSshHost(spec.hostDir);
    const down = await runner.run(host, echoWord, { word: 'down' }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(SshUnreachableError);

    const restarted = await startSshHost(spec);
    handles.set('ssh-test-02', restarted);
    expect(restarted.pid).not.toBe(previous?.pid);
    expect(restarted.fingerprint).toBe(previous?.fingerprint); // host key kept across restarts
    const before = acceptedLogins('ssh-test-02');
    expect((await runner.run(host, echoWord, { word: 'again' })).stdout).toBe('again\n');
    expect(acceptedLogins('ssh-test-02') - before).toBe(1);
  });

  it('replaces a pooled connection that died unnoticed, without failing the command', async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    const runner = newRunner({ logger: createLogger({ level: 'info', destination: sink }) });
    const host = hostFor('ssh-test-01');
    await runner.run(host, echoWord, { word: 'one' });
    const before = acceptedLogins('ssh-test-01');
    // Kill this host's session processes and call run() in the same tick, before the event loop
    // can notice the close: the runner finds the connection dead only when it opens a channel.
    const sshdPid = handles.get('ssh-test-01')?.pid;
    const sessions = execFileSync('ps', ['-o', 'pid=', '--ppid', String(sshdPid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
    expect(sessions.length).toBeGreaterThan(0);
    for (const pid of sessions) process.kill(pid, 'SIGKILL');
    const pending = runner.run(host, echoWord, { word: 'two' });
    expect((await pending).stdout).toBe('two\n');
    expect(acceptedLogins('ssh-test-01') - before).toBe(1);
    expect(logLines.join('')).toContain('ssh connection was dead; reconnecting');
  });

  it('reconnects transparently when the connection dropped between commands', async () => {
    const runner = newRunner();
    const host = hostFor('ssh-test-01');
    await runner.run(host, echoWord, { word: 'one' });
    const spec = specs.get('ssh-test-01');
    if (!spec) throw new Error('no spec');
    // Restart the whole host quickly; the runner's pooled connection is now dead.
    await stopSshHost(spec.hostDir);
    handles.set('ssh-test-01', await startSshHost(spec));
    expect((await runner.run(host, echoWord, { word: 'two' })).stdout).toBe('two\n');
  });
});
