/**
 * SSH adapter: runs runbook commands on inventory hosts over a pool of node-ssh connections.
 *
 * Security model (DESIGN.md "no shell string is ever built from user text"):
 * - Commands are templates defined in code with `defineRemoteCommand`; every `{{placeholder}}` has
 *   a zod schema. `SshRunner.run` validates the arguments (nothing is sent when they are invalid)
 *   and substitutes each value single-quoted, so `'; touch /tmp/pwned; '`, `$(id)` or newlines stay
 *   literal. There is no method that takes a raw command string, and Biome forbids importing this
 *   module outside `src/ops/**` and `test/**` (biome.json override).
 * - Host keys are pinned (`host.ssh.hostKey`, else the host's known_hosts entry). Nothing pinned or
 *   a different key: `SshHostKeyMismatchError`, never trust-on-first-use.
 *
 * Time bounds: every command is sent as `timeout --kill-after=2 <timeoutSec> sh -c '<script>'`, so
 * the remote process dies even if our channel or connection goes away (closing an SSH channel does
 * not stop a remote command). A local deadline (timeoutSec + margin) closes the channel if the
 * host does not answer in time.
 *
 * Latency: one connection per host, reused, with TCP no-delay (Nagle adds ~47 ms per command
 * otherwise; measured in LAB-NOTES.md). A dropped connection (sshd restarted, host rebooted) is
 * replaced on the next command.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { NodeSSH } from 'node-ssh';
import { z } from 'zod';
import {
  InvalidArgumentError,
  SshAuthError,
  SshExitError,
  SshHostKeyMismatchError,
  SshTimeoutError,
  SshUnreachableError,
} from '../../errors.js';
import type { Host } from '../../inventory.js';
import { type Logger, silentLogger } from '../../observability/logger.js';

// ---------------------------------------------------------------------------------------------
// Command templates

/** zod schemas of a template's arguments, by placeholder name. */
export type RemoteArgsShape = Record<string, z.ZodType>;

/** What a caller passes to `run` for a command with argument schemas `S`. */
export type RemoteCommandArgs<S extends RemoteArgsShape> = z.input<z.ZodObject<S>>;

export interface RemoteCommandDefinition<S extends RemoteArgsShape> {
  /** Stable name for logs, audit and errors, e.g. "tail-error-log". */
  readonly name: string;
  /**
   * POSIX sh script; `{{arg}}` is replaced by the argument's value, single-quoted. Placeholders
   * must stand outside quotes (`grep {{pattern}} {{file}}`, not `grep "{{pattern}}"`).
   */
  readonly script: string;
  readonly args: S;
  /** Remote time limit in seconds (the host's `timeout` sends TERM, then KILL 2 s later). */
  readonly timeoutSec: number;
  /** Exit codes that count as success (default [0]); e.g. [0, 1] for grep, [0, 3] for is-active. */
  readonly okExitCodes?: readonly number[];
  /** Cap per stream (stdout, stderr) in bytes (default 1 MiB); beyond it output is dropped and `truncated` set. */
  readonly maxOutputBytes?: number;
  /**
   * String arguments starting with "-" are refused unless named here, because a value like
   * `--include=…` or `-f /etc/shadow` is read as an option by most commands even when quoted.
   */
  readonly allowLeadingDash?: readonly (keyof S & string)[];
}

declare const remoteCommandBrand: unique symbol;

export interface RemoteCommand<S extends RemoteArgsShape = RemoteArgsShape> {
  readonly name: string;
  readonly script: string;
  readonly args: S;
  readonly timeoutSec: number;
  readonly okExitCodes: readonly number[];
  readonly maxOutputBytes: number;
  readonly allowLeadingDash: readonly string[];
  /** Placeholder names in order of first appearance. */
  readonly placeholders: readonly string[];
  readonly [remoteCommandBrand]: true;
}

/** Only objects made by `defineRemoteCommand` are run: a spread copy with another script is refused. */
const definedCommands = new WeakSet<object>();

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** Seconds between the remote `timeout`'s TERM and its KILL. */
export const REMOTE_KILL_AFTER_SEC = 2;

const COMMAND_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const PLACEHOLDER = /\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/y;

/**
 * Defines a command template. Throws (at module load, i.e. a programming error) when the script
 * uses a placeholder without a schema, has a schema no placeholder uses, or puts a placeholder
 * inside quotes.
 */
export function defineRemoteCommand<S extends RemoteArgsShape>(
  def: RemoteCommandDefinition<S>,
): RemoteCommand<S> {
  if (!COMMAND_NAME.test(def.name)) throw new TypeError(`remote command name "${def.name}" is not a-z0-9-`);
  if (!(def.timeoutSec > 0 && def.timeoutSec <= 24 * 3600)) {
    throw new TypeError(`remote command "${def.name}": timeoutSec must be in (0, 86400]`);
  }
  const okExitCodes = def.okExitCodes ?? [0];
  if (okExitCodes.length === 0 || !okExitCodes.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
    throw new TypeError(`remote command "${def.name}": okExitCodes must be exit codes 0..255`);
  }
  const maxOutputBytes = def.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 1) {
    throw new TypeError(`remote command "${def.name}": maxOutputBytes must be a positive integer`);
  }
  const placeholders = scanTemplate(def.name, def.script);
  for (const p of placeholders) {
    if (!Object.hasOwn(def.args, p))
      throw new TypeError(`remote command "${def.name}": {{${p}}} has no schema`);
  }
  for (const a of Object.keys(def.args)) {
    if (!placeholders.includes(a))
      throw new TypeError(`remote command "${def.name}": argument "${a}" is not used`);
  }
  const command = Object.freeze({
    name: def.name,
    script: def.script,
    args: def.args,
    timeoutSec: def.timeoutSec,
    okExitCodes: Object.freeze([...okExitCodes]),
    maxOutputBytes,
    allowLeadingDash: Object.freeze([...(def.allowLeadingDash ?? [])]),
    placeholders: Object.freeze(placeholders),
  }) as RemoteCommand<S>;
  definedCommands.add(command);
  return command;
}

/**
 * Walks the script like sh would (quotes, backslashes) and returns the placeholders, refusing any
 * that stand inside quotes: there, the single quotes we add would become part of the value.
 */
function scanTemplate(name: string, script: string): string[] {
  const found: string[] = [];
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (c === '{' && script[i + 1] === '{') {
      PLACEHOLDER.lastIndex = i;
      const m = PLACEHOLDER.exec(script);
      if (!m?.[1]) throw new TypeError(`remote command "${name}": malformed placeholder at offset ${i}`);
      if (quote)
        throw new TypeError(`remote command "${name}": {{${m[1]}}} must not stand inside ${quote} quotes`);
      if (!found.includes(m[1])) found.push(m[1]);
      i += m[0].length - 1;
      continue;
    }
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === '\\') {
      i++;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    }
  }
  if (quote) throw new TypeError(`remote command "${name}": unterminated ${quote} quote`);
  return found;
}

/** Quotes a string for POSIX sh: the result is always exactly one literal word. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Validates `args` against the command's schemas and returns the script with every placeholder
 * replaced by its quoted value. Throws `InvalidArgumentError` (with every problem) otherwise.
 */
export function renderRemoteScript<S extends RemoteArgsShape>(
  command: RemoteCommand<S>,
  args: RemoteCommandArgs<S>,
): string {
  if (!definedCommands.has(command)) {
    throw new InvalidArgumentError('not a command made by defineRemoteCommand; refusing to run it');
  }
  const parsed = z.strictObject(command.args).safeParse(args);
  if (!parsed.success) {
    const detail = parsed.error.issues.map(
      (i) => `${i.path.map(String).join('.') || '(args)'}: ${i.message}`,
    );
    throw new InvalidArgumentError(`invalid arguments for ${command.name}: ${detail.join('; ')}`);
  }
  const values = parsed.data as Record<string, unknown>;
  const words = new Map<string, string>();
  for (const p of command.placeholders) {
    const v = values[p];
    let text: string;
    if (typeof v === 'string') text = v;
    else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') text = String(v);
    else
      throw new InvalidArgumentError(
        `invalid arguments for ${command.name}: ${p} must be a string, number or boolean`,
      );
    if (text.includes('\0'))
      throw new InvalidArgumentError(`invalid arguments for ${command.name}: ${p} contains NUL`);
    if (typeof v === 'string' && text.startsWith('-') && !command.allowLeadingDash.includes(p)) {
      throw new InvalidArgumentError(`invalid arguments for ${command.name}: ${p} must not start with "-"`);
    }
    words.set(p, shellQuote(text));
  }
  return command.script.replace(/\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/g, (_, p: string) => words.get(p) ?? '');
}

/**
 * The exact string sent to the host: `timeout --kill-after=2 <timeoutSec> sh -c '<script>'`. The
 * script is quoted once more, so the host's login shell hands it to `sh -c` unchanged.
 */
export function renderRemoteCommand<S extends RemoteArgsShape>(
  command: RemoteCommand<S>,
  args: RemoteCommandArgs<S>,
): string {
  const script = renderRemoteScript(command, args);
  return `timeout --kill-after=${REMOTE_KILL_AFTER_SEC} ${command.timeoutSec} sh -c ${shellQuote(script)}`;
}

// ---------------------------------------------------------------------------------------------
// Host keys

/** OpenSSH's SHA256 fingerprint of a public key blob: "SHA256:" + unpadded base64. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export interface KnownHostsEntry {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly marker: '@revoked' | '@cert-authority' | undefined;
  /** The host pattern field as written (comma-separated patterns, or one hashed `|1|salt|hash`). */
  readonly hosts: string;
  readonly keyType: string;
  readonly keyBase64: string;
  readonly fingerprint: string;
}

/** Parses OpenSSH known_hosts text; comments, blank and malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const fields = (lines[n] ?? '').trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    let marker: KnownHostsEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as typeof marker;
    else if (fields[0].startsWith('@')) continue;
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64 || !/^[A-Za-z0-9+/]+=*$/.test(keyBase64)) continue;
    const blob = Buffer.from(keyBase64, 'base64');
    if (blob.length < 8) continue;
    entries.push({ line: n + 1, marker, hosts, keyType, keyBase64, fingerprint: sshFingerprint(blob) });
  }
  return entries;
}

/** How OpenSSH names a host in known_hosts: `address`, or `[address]:port` when the port is not 22. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/** Whether a known_hosts host field matches (plain, wildcard `*`/`?`, `!negated`, or hashed `|1|…`). */
export function knownHostsFieldMatches(hostsField: string, address: string, port: number): boolean {
  const name = knownHostsName(address, port);
  if (hostsField.startsWith('|1|')) {
    const [, , salt, hash] = hostsField.split('|');
    if (!salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  let matched = false;
  for (const raw of hostsField.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const re = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replaceAll('*', '.*')
        .replaceAll('?', '.')}$`,
    );
    if (re.test(name.toLowerCase()) || re.test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** The pinned host keys for one host: what is accepted and what is explicitly revoked. */
export interface HostKeyPins {
  readonly accepted: readonly string[];
  readonly revoked: readonly string[];
  /** Key types of the accepted known_hosts entries (empty for an inline fingerprint). */
  readonly keyTypes: readonly string[];
  /** Where the pins came from, for messages. */
  readonly source: string;
}

export function pinsFromKnownHosts(
  entries: readonly KnownHostsEntry[],
  address: string,
  port: number,
  source: string,
) {
  const matching = entries.filter(
    (e) => e.marker !== '@cert-authority' && knownHostsFieldMatches(e.hosts, address, port),
  );
  const accepted = matching.filter((e) => e.marker === undefined);
  return {
    accepted: [...new Set(accepted.map((e) => e.fingerprint))],
    revoked: matching.filter((e) => e.marker === '@revoked').map((e) => e.fingerprint),
    keyTypes: [...new Set(accepted.map((e) => e.keyType))],
    source,
  } satisfies HostKeyPins;
}

/** Resolves a host's pins: the inline `hostKey` wins; else its known_hosts entries. */
export async function resolveHostKeyPins(host: Host): Promise<HostKeyPins> {
  if (host.ssh.hostKey) {
    return {
      accepted: [host.ssh.hostKey.replace(/=+$/, '')],
      revoked: [],
      keyTypes: [],
      source: 'inventory host_key',
    };
  }
  const file = host.ssh.knownHostsPath;
  if (!file)
    throw new SshHostKeyMismatchError(host.name, [], undefined, 'neither host_key nor known_hosts is set');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new SshHostKeyMismatchError(host.name, [], undefined, `cannot read known_hosts ${file}: ${code}`);
  }
  const pins = pinsFromKnownHosts(parseKnownHosts(text), host.address, host.ssh.port, file);
  if (pins.accepted.length === 0) {
    throw new SshHostKeyMismatchError(
      host.name,
      [],
      undefined,
      `no entry for ${knownHostsName(host.address, host.ssh.port)} in ${file}`,
    );
  }
  return pins;
}

/** ssh2 host-key algorithms for known_hosts key types; undefined when one is unknown (then ssh2's defaults). */
function hostKeyAlgorithms(keyTypes: readonly string[]): string[] | undefined {
  if (keyTypes.length === 0) return undefined;
  const out: string[] = [];
  for (const t of keyTypes) {
    if (t === 'ssh-ed25519' || /^ecdsa-sha2-nistp(256|384|521)$/.test(t)) out.push(t);
    else if (t === 'ssh-rsa') out.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else return undefined;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Runner

export interface RemoteCommandResult {
  /** Inventory host name. */
  readonly host: string;
  /** Command name. */
  readonly command: string;
  /** null when the remote process was killed by a signal (see `signal`). */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when stdout or stderr exceeded the command's `maxOutputBytes` and was cut. */
  readonly truncated: boolean;
  readonly durationMs: number;
}

/**
 * The port the domain depends on. Failure semantics of `run`:
 * - `InvalidArgumentError`: arguments failed validation; nothing was sent.
 * - `SshHostKeyMismatchError`, `SshAuthError`: permanent; nothing was sent.
 * - `SshUnreachableError`: transient; `phase` says whether the command may have run.
 * - `SshTimeoutError`: transient; the remote process is bounded by `timeout` either way.
 * - `SshExitError`: the command ran and exited outside `okExitCodes`.
 */
export interface RemoteCommandRunner {
  run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    args: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult>;
}

export interface SshRunnerOptions {
  logger?: Logger;
  /** TCP connect + handshake + authentication (default 10 s). */
  connectTimeoutMs?: number;
  /** SSH keepalive interval (default 5 s); with `keepaliveCountMax` (default 3) a dead peer is noticed in ~15 s. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Commands at once per host connection (default 8; keep below sshd's MaxSessions, 10 by default). */
  maxConcurrentPerHost?: number;
  /** Local deadline = timeoutSec + this (default 3000 ms: the remote KILL comes 2 s after TERM). */
  deadlineMarginMs?: number;
  /** How long a command may wait for a free session slot (default 60 s). */
  queueTimeoutMs?: number;
}

/** The parts of an ssh2 Client we use (ssh2 ships no types here). */
interface Ssh2Client extends EventEmitter {
  exec(command: string, callback: (err: Error | undefined, channel: Ssh2Channel) => void): void;
  setNoDelay(noDelay: boolean): void;
  end(): void;
}

interface Ssh2Channel extends EventEmitter {
  readonly stderr: EventEmitter;
  end(): void;
  close(): void;
}

interface Connection {
  readonly id: number;
  readonly ssh: NodeSSH;
  readonly client: Ssh2Client;
  closed: boolean;
}

interface PoolEntry {
  readonly host: Host;
  readonly log: Logger;
  readonly slots: Slots;
  conn: Connection | undefined;
  connecting: Promise<Connection> | undefined;
}

/** Thrown inside the runner when no channel could be opened: nothing ran, so one retry is safe. */
class ChannelNotOpenedError extends Error {
  /** True when the connection was already gone (closed, or ssh2 threw because the socket was). */
  readonly connectionDead: boolean;
  constructor(message: string, options: { cause: unknown; connectionDead: boolean }) {
    super(message, { cause: options.cause });
    this.connectionDead = options.connectionDead;
  }
}

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * Runs command templates on hosts over pooled SSH connections (one per host, created on first use,
 * reused, replaced when it drops). `close()` ends them all.
 */
export class SshRunner implements RemoteCommandRunner {
  private readonly pool = new Map<string, PoolEntry>();
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly keepaliveIntervalMs: number;
  private readonly keepaliveCountMax: number;
  private readonly maxConcurrentPerHost: number;
  private readonly deadlineMarginMs: number;
  private readonly queueTimeoutMs: number;
  private nextConnectionId = 1;
  private closed = false;

  constructor(options: SshRunnerOptions = {}) {
    this.log = (options.logger ?? silentLogger).child({ component: 'ssh' });
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.keepaliveIntervalMs = options.keepaliveIntervalMs ?? 5000;
    this.keepaliveCountMax = options.keepaliveCountMax ?? 3;
    this.maxConcurrentPerHost = options.maxConcurrentPerHost ?? 8;
    this.deadlineMarginMs = options.deadlineMarginMs ?? (REMOTE_KILL_AFTER_SEC + 1) * 1000;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 60_000;
  }

  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    args: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    const wire = renderRemoteCommand(command, args); // InvalidArgumentError before anything is sent
    if (this.closed)
      throw new SshUnreachableError(host.name, 'the SSH runner is closed', { transient: false });
    const entry = this.entryFor(host);
    const release = await entry.slots.acquire(this.queueTimeoutMs).catch(() => {
      if (this.closed)
        throw new SshUnreachableError(host.name, 'the SSH runner is closed', { transient: false });
      throw new SshTimeoutError(host.name, command.name, command.timeoutSec, 'queue');
    });
    try {
      for (let attempt = 0; ; attempt++) {
        const conn = await this.connection(entry);
        try {
          return await this.exec(entry, conn, command, wire);
        } catch (err) {
          if (!(err instanceof ChannelNotOpenedError)) throw err;
          // Nothing ran. A live connection whose server refused the session (e.g. MaxSessions) is
          // kept for the commands still running on it; a dead one (sshd restarted, host rebooted)
          // is replaced once.
          const dead = err.connectionDead || conn.closed;
          if (dead) this.drop(entry, conn, 'connection found dead when opening a channel');
          if (!dead || attempt >= 1 || this.closed) {
            throw new SshUnreachableError(host.name, `cannot open a session: ${err.message}`, {
              cause: err.cause,
            });
          }
          entry.log.info({ err: err.message }, 'ssh connection was dead; reconnecting');
        }
      }
    } finally {
      release();
    }
  }

  /** Ends every connection; pending and later `run` calls fail with `SshUnreachableError`. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.pool.values()];
    this.pool.clear();
    for (const entry of entries) {
      entry.slots.rejectWaiters();
      const pending = entry.connecting?.catch(() => undefined);
      if (entry.conn) this.drop(entry, entry.conn, 'runner closed');
      const late = await pending;
      if (late) this.drop(entry, late, 'runner closed');
    }
  }

  private entryFor(host: Host): PoolEntry {
    // Everything that decides how we connect is part of the key: a changed key or pin is a new pool entry.
    const key = JSON.stringify([
      host.name,
      host.address,
      host.ssh.port,
      host.ssh.user,
      host.ssh.keyPath,
      host.ssh.hostKey,
      host.ssh.knownHostsPath,
    ]);
    let entry = this.pool.get(key);
    if (!entry) {
      entry = {
        host,
        log: this.log.child({ host: host.name, address: host.address, port: host.ssh.port }),
        slots: new Slots(this.maxConcurrentPerHost),
        conn: undefined,
        connecting: undefined,
      };
      this.pool.set(key, entry);
    }
    return entry;
  }

  private connection(entry: PoolEntry): Promise<Connection> {
    if (this.closed)
      return Promise.reject(new SshUnreachableError(entry.host.name, 'the SSH runner is closed'));
    if (entry.conn && !entry.conn.closed) return Promise.resolve(entry.conn);
    if (!entry.connecting) {
      entry.connecting = this.connect(entry).then(
        (conn) => {
          entry.connecting = undefined;
          if (this.closed) {
            this.drop(entry, conn, 'runner closed');
            throw new SshUnreachableError(entry.host.name, 'the SSH runner is closed', { transient: false });
          }
          entry.conn = conn;
          return conn;
        },
        (err: unknown) => {
          entry.connecting = undefined;
          throw err;
        },
      );
    }
    return entry.connecting;
  }

  private async connect(entry: PoolEntry): Promise<Connection> {
    const { host, log } = entry;
    const pins = await resolveHostKeyPins(host);
    let privateKey: string;
    try {
      privateKey = await readFile(host.ssh.keyPath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new SshAuthError(host.name, `cannot read private key ${host.ssh.keyPath}: ${code}`);
    }
    let presented: string | undefined;
    let keyRefused = false;
    const ssh = new NodeSSH();
    const started = performance.now();
    const algorithms = hostKeyAlgorithms(pins.keyTypes);
    try {
      await ssh.connect({
        host: host.address,
        port: host.ssh.port,
        username: host.ssh.user,
        privateKey,
        readyTimeout: this.connectTimeoutMs,
        keepaliveInterval: this.keepaliveIntervalMs,
        keepaliveCountMax: this.keepaliveCountMax,
        ...(algorithms ? { algorithms: { serverHostKey: algorithms } } : {}),
        hostVerifier: (key: Buffer) => {
          presented = sshFingerprint(key);
          const ok = pins.accepted.includes(presented) && !pins.revoked.includes(presented);
          keyRefused = !ok;
          return ok;
        },
      });
    } catch (err) {
      ssh.dispose();
      const mapped = classifyConnectError(host, err, { keyRefused, presented, pins });
      log.warn({ code: mapped.code, err: mapped.message }, 'ssh connect failed');
      throw mapped;
    }
    const client = ssh.connection as unknown as Ssh2Client;
    client.setNoDelay(true);
    const conn: Connection = { id: this.nextConnectionId++, ssh, client, closed: false };
    // node-ssh drops its own 'error' listener once connected; without ours an error would crash the process.
    client.on('error', (err: Error & { level?: string }) => {
      log.warn({ connection: conn.id, level: err.level, err: err.message }, 'ssh connection error');
    });
    client.on('close', () => {
      conn.closed = true;
      if (entry.conn === conn) entry.conn = undefined;
      log.info({ connection: conn.id }, 'ssh connection closed');
    });
    log.info(
      { connection: conn.id, fingerprint: presented, ms: Math.round(performance.now() - started) },
      'ssh connected',
    );
    return conn;
  }

  private drop(entry: PoolEntry, conn: Connection, why: string): void {
    if (entry.conn === conn) entry.conn = undefined;
    if (!conn.closed) {
      conn.closed = true;
      entry.log.debug({ connection: conn.id, why }, 'ssh connection dropped');
      conn.ssh.dispose();
    }
  }

  private exec(
    entry: PoolEntry,
    conn: Connection,
    command: RemoteCommand<RemoteArgsShape>,
    wire: string,
  ): Promise<RemoteCommandResult> {
    const hostName = entry.host.name;
    const started = performance.now();
    return new Promise<RemoteCommandResult>((resolve, reject) => {
      const stdout = new CappedBuffer(command.maxOutputBytes);
      const stderr = new CappedBuffer(command.maxOutputBytes);
      let exitCode: number | null = null;
      let signal: string | null = null;
      let sawExit = false;
      let channel: Ssh2Channel | undefined;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(
        () => {
          settle(() => {
            entry.log.warn(
              { command: command.name, timeoutSec: command.timeoutSec },
              'ssh command hit local deadline',
            );
            reject(new SshTimeoutError(hostName, command.name, command.timeoutSec, 'local'));
          });
          channel?.close();
        },
        command.timeoutSec * 1000 + this.deadlineMarginMs,
      );

      const onChannel = (err: Error | undefined, ch: Ssh2Channel) => {
        if (err) {
          settle(() =>
            reject(new ChannelNotOpenedError(err.message, { cause: err, connectionDead: conn.closed })),
          );
          return;
        }
        if (settled) {
          ch.close();
          return;
        }
        channel = ch;
        ch.on('data', (chunk: Buffer) => stdout.push(chunk));
        ch.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        ch.on('error', (e: Error) => entry.log.debug({ err: e.message }, 'ssh channel error'));
        ch.on('exit', (code: number | null, sig?: string | null) => {
          sawExit = true;
          exitCode = typeof code === 'number' ? code : null;
          signal = sig ?? null;
        });
        ch.on('close', () => {
          const durationMs = Math.round(performance.now() - started);
          settle(() => {
            const result: RemoteCommandResult = {
              host: hostName,
              command: command.name,
              exitCode,
              signal,
              stdout: stdout.text(),
              stderr: stderr.text(),
              truncated: stdout.truncated || stderr.truncated,
              durationMs,
            };
            entry.log.debug(
              { command: command.name, exitCode, signal, durationMs, truncated: result.truncated },
              'ssh command finished',
            );
            if (!sawExit) {
              if (conn.closed) {
                reject(
                  new SshUnreachableError(hostName, `connection lost while running ${command.name}`, {
                    phase: 'exec',
                  }),
                );
              } else {
                reject(
                  new SshExitError(hostName, command.name, null, null, result.stderr || 'no exit status'),
                );
              }
            } else if (exitCode === 124 || exitCode === 137) {
              reject(new SshTimeoutError(hostName, command.name, command.timeoutSec, 'remote'));
            } else if (exitCode !== null && command.okExitCodes.includes(exitCode)) {
              resolve(result);
            } else {
              reject(new SshExitError(hostName, command.name, exitCode, signal, result.stderr));
            }
          });
        });
        // No stdin: a command that reads it gets EOF instead of waiting for the timeout.
        ch.end();
      };

      try {
        conn.client.exec(wire, onChannel);
      } catch (err) {
        // ssh2 throws synchronously when the socket is already gone.
        settle(() =>
          reject(new ChannelNotOpenedError((err as Error).message, { cause: err, connectionDead: true })),
        );
      }
    });
  }
}

function classifyConnectError(
  host: Host,
  thrown: unknown,
  ctx: { keyRefused: boolean; presented: string | undefined; pins: HostKeyPins },
): SshUnreachableError | SshAuthError | SshHostKeyMismatchError {
  const err = thrown as (Error & { code?: string | null; level?: string }) | undefined;
  const message = err?.message ?? String(thrown);
  if (ctx.keyRefused || /Host denied/i.test(message)) {
    return new SshHostKeyMismatchError(host.name, ctx.pins.accepted, ctx.presented);
  }
  if (err?.level === 'client-authentication') {
    return new SshAuthError(host.name, `the host refused key ${host.ssh.keyPath} for user ${host.ssh.user}`, {
      cause: thrown,
    });
  }
  if (/privateKey|private key/i.test(message)) {
    return new SshAuthError(host.name, `cannot use private key ${host.ssh.keyPath}: ${message}`);
  }
  const where = `${host.address}:${host.ssh.port}`;
  if (err?.level === 'client-timeout') {
    return new SshUnreachableError(host.name, `no SSH handshake from ${where} within the connect timeout`, {
      cause: thrown,
    });
  }
  if ((err?.code && NETWORK_ERROR_CODES.has(err.code)) || err?.level === 'client-socket') {
    return new SshUnreachableError(host.name, `cannot connect to ${where}: ${err?.code ?? message}`, {
      cause: thrown,
    });
  }
  // Protocol-level failures (no common algorithm, …) will not heal by retrying.
  return new SshUnreachableError(host.name, `SSH connection to ${where} failed: ${message}`, {
    cause: thrown,
    transient: err?.level !== 'handshake',
  });
}

/** A counting semaphore with a FIFO queue and a wait timeout. */
class Slots {
  private active = 0;
  private readonly waiters: { grant: () => void; fail: (err: Error) => void }[] = [];
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  acquire(timeoutMs: number): Promise<() => void> {
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(this.releaser());
        },
        fail: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error('queue timeout'));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  rejectWaiters(): void {
    for (const w of this.waiters.splice(0)) w.fail(new Error('runner closed'));
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next.grant();
      else this.active--;
    };
  }
}

/** Collects a stream up to `max` bytes and remembers whether more came. */
class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) {
      this.truncated = this.truncated || chunk.length > 0;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks, this.size).toString('utf8');
  }
}
