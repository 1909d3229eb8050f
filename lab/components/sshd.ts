/**
 * One real OpenSSH server per simulated host, on its own loopback address (127.0.1.1:2222, …).
 *
 * Each sshd runs inside its own mount namespace (`unshare --mount --propagation private`) with the
 * host's directories bind-mounted over `/root` (its own `.ssh/authorized_keys`, and no root
 * `.bashrc` that would add ~130 ms per command) and `/var/log` (its own `/var/log/qnwis/*.log`), plus
 * any extra binds (e.g. `/backups`). So the bot runs the runbook's literal commands and every host
 * sees only its own files. Everything else (binaries, /etc, the process table) is the machine's.
 *
 * Layout under `hostDir` (created here; keep it out of /tmp so StrictModes never objects):
 *   etc/ssh_host_ed25519_key(.pub)  host key, generated once and kept across restarts
 *   etc/sshd_config                 rewritten on every start
 *   root/.ssh/authorized_keys       the host's /root (0700/0700/0600, root-owned)
 *   log/                            the host's /var/log
 *   run/sshd.pid, run/host.json     pid file and what was started (for status/stop)
 *   sshd.log                        sshd's own log (-E) plus anything unshare/mount print
 *
 * Gotchas (measured, see LAB-NOTES.md): `/run/sshd` must exist; `-f`/`-E` must be absolute; closing
 * an SSH channel does not stop the remote command; PID 1 reaps orphans late, so a dead process can
 * linger as a zombie and `kill -0` lies — liveness here reads the state from /proc.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isAlive, readPidFile, tcpReachable } from '../process.js';

const execFileAsync = promisify(execFile);

const SSHD = '/usr/sbin/sshd';
const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

export interface ClientKey {
  /** Absolute path of the unencrypted ed25519 private key. */
  readonly privateKeyPath: string;
  /** The public key line ("ssh-ed25519 AAAA… comment"), for authorized_keys. */
  readonly publicKey: string;
}

export interface BindMount {
  /** Directory on the machine (created if missing). */
  readonly source: string;
  /** Absolute path as the host sees it (created on the machine if missing, as a mount point). */
  readonly target: string;
}

export interface SshHostSpec {
  /** Inventory name, used in comments and logs. */
  readonly name: string;
  /** Loopback address to listen on, e.g. 127.0.1.2. */
  readonly address: string;
  readonly port: number;
  /** Absolute directory holding everything of this host (see the file comment). */
  readonly hostDir: string;
  /** Public key lines allowed to log in as root. */
  readonly authorizedKeys: readonly string[];
  /** Directories put before the system PATH in every session (shims for systemctl, sudo, …). */
  readonly pathPrefix?: readonly string[];
  /** Extra environment variables for every session (sshd_config `SetEnv`). */
  readonly setEnv?: Readonly<Record<string, string>>;
  /** Extra bind mounts besides /root and /var/log. */
  readonly binds?: readonly BindMount[];
  /** How long to wait for the port to accept connections (default 10 s). */
  readonly readyTimeoutMs?: number;
}

export interface SshHostHandle {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly hostDir: string;
  readonly pid: number;
  /** SHA256 fingerprint of the host key, as OpenSSH prints it ("SHA256:…", no padding). */
  readonly fingerprint: string;
  /** A known_hosts line for this host, e.g. "[127.0.1.2]:2222 ssh-ed25519 AAAA…". */
  readonly knownHostsLine: string;
  /** sshd's log file ("Accepted publickey for root …" lines, errors). */
  readonly logPath: string;
}

export interface SshHostStatus {
  readonly running: boolean;
  readonly pid: number | undefined;
  readonly listening: boolean;
  readonly name: string | undefined;
  readonly address: string | undefined;
  readonly port: number | undefined;
}

export interface StopSshHostOptions {
  /**
   * Keep established sessions (and the commands they run) alive, as `systemctl restart ssh` would.
   * Default false: the host "goes down" — every sshd of this host and its session processes get
   * SIGTERM, so clients see their connections drop.
   */
  readonly keepSessions?: boolean;
  /** How long to wait for the processes to exit before SIGKILL (default 5 s). */
  readonly timeoutMs?: number;
}

interface HostRecord {
  name: string;
  address: string;
  port: number;
  configPath: string;
  logPath: string;
  /** Hash of the config and bind script the running sshd was started with. */
  specHash: string;
}

/** Creates an ed25519 key pair in `dir` once (no passphrase) and returns it; safe to call concurrently. */
export async function ensureClientKey(dir: string, name = 'id_ed25519'): Promise<ClientKey> {
  const absDir = path.resolve(dir);
  await mkdir(absDir, { recursive: true, mode: 0o700 });
  const privateKeyPath = path.join(absDir, name);
  await ensureKeyPair(privateKeyPath, 'qnwis-chatops-lab');
  const publicKey = (await readFile(`${privateKeyPath}.pub`, 'utf8')).trim();
  return { privateKeyPath, publicKey };
}

/**
 * Starts (or finds running) the sshd of one simulated host and returns its pid and pinned key.
 * Idempotent: when the recorded sshd is alive, listening and was started with the same config, it
 * is returned as is; when the config changed, it is restarted (keeping sessions would keep the old
 * mount namespace, so they are dropped).
 */
export async function startSshHost(spec: SshHostSpec): Promise<SshHostHandle> {
  validateSpec(spec);
  const dirs = hostPaths(spec.hostDir);
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await mkdir(dirs.etc, { recursive: true, mode: 0o755 });
  await mkdir(dirs.run, { recursive: true, mode: 0o755 });
  await mkdir(dirs.log, { recursive: true, mode: 0o755 });
  await prepareRoot(dirs.root, spec.authorizedKeys);
  await ensureKeyPair(dirs.hostKey, `${spec.name}-host-key`);

  const hostKeyLine = (await readFile(`${dirs.hostKey}.pub`, 'utf8')).trim();
  const [keyType, keyBase64] = hostKeyLine.split(/\s+/);
  if (!keyType || !keyBase64) throw new Error(`host key ${dirs.hostKey}.pub is malformed`);
  const fingerprint = `SHA256:${createHash('sha256').update(Buffer.from(keyBase64, 'base64')).digest('base64').replace(/=+$/, '')}`;
  const hostPattern = spec.port === 22 ? spec.address : `[${spec.address}]:${spec.port}`;
  const handleFor = (pid: number): SshHostHandle => ({
    name: spec.name,
    address: spec.address,
    port: spec.port,
    hostDir: dirs.hostDir,
    pid,
    fingerprint,
    knownHostsLine: `${hostPattern} ${keyType} ${keyBase64}`,
    logPath: dirs.sshdLog,
  });

  const config = renderSshdConfig(spec, dirs);
  const binds: BindMount[] = [
    { source: dirs.root, target: '/root' },
    { source: dirs.log, target: '/var/log' },
    ...(spec.binds ?? []),
  ];
  const script = renderStartScript(binds, dirs);
  const specHash = createHash('sha256').update(config).update('\0').update(script).digest('hex');

  const running = await findRunning(dirs);
  if (running !== undefined) {
    const record = await readRecord(dirs);
    if (
      record?.specHash === specHash &&
      record.address === spec.address &&
      record.port === spec.port &&
      (await tcpReachable(spec.address, spec.port, 500))
    ) {
      return handleFor(running);
    }
    await stopSshHost(dirs.hostDir);
  }

  await writeFile(dirs.config, config, { mode: 0o644 });
  for (const b of spec.binds ?? []) await mkdir(b.source, { recursive: true });
  await rm(dirs.pidFile, { force: true });
  const record: HostRecord = {
    name: spec.name,
    address: spec.address,
    port: spec.port,
    configPath: dirs.config,
    logPath: dirs.sshdLog,
    specHash,
  };
  await writeFile(dirs.record, `${JSON.stringify(record, null, 2)}\n`);

  // Refuse to start when someone else already listens there: our readiness probe would lie.
  if (await tcpReachable(spec.address, spec.port, 300)) {
    throw new Error(`cannot start sshd for ${spec.name}: ${spec.address}:${spec.port} is already in use`);
  }

  const logFd = await open(
    dirs.sshdLog,
    fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT,
    0o644,
  );
  let pid: number | undefined;
  try {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script], {
      detached: true,
      stdio: ['ignore', logFd.fd, logFd.fd],
      cwd: '/',
    });
    child.on('error', () => {}); // reported below as "exited before listening"
    child.unref();
    pid = child.pid;
  } finally {
    await logFd.close();
  }
  if (pid === undefined)
    throw new Error(`cannot spawn unshare for ${spec.name}: ${await logTail(dirs.sshdLog)}`);

  // unshare and sh exec, so `pid` becomes sshd's pid; ready = pid file written by it + port open.
  const deadline = Date.now() + (spec.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (!isAlive(pid)) {
      throw new Error(
        `sshd for ${spec.name} exited before listening; ${dirs.sshdLog}:\n${await logTail(dirs.sshdLog)}`,
      );
    }
    const pidFromFile = readPidFile(dirs.pidFile);
    if (pidFromFile === pid && (await tcpReachable(spec.address, spec.port, 500))) return handleFor(pid);
    if (Date.now() > deadline) {
      killQuietly(pid, 'SIGKILL');
      throw new Error(
        `sshd for ${spec.name} did not accept connections on ${spec.address}:${spec.port} within ` +
          `${spec.readyTimeoutMs ?? 10_000} ms; ${dirs.sshdLog}:\n${await logTail(dirs.sshdLog)}`,
      );
    }
    await sleep(25);
  }
}

/**
 * Stops the host's sshd by its recorded pid and waits until it is really gone (a zombie counts as
 * gone). By default its session processes go too (see `keepSessions`). Daemons that were started
 * over SSH with `setsid` are not sessions (they were re-parented) and keep running: stop them
 * through their own pid files. Does nothing when the host is not running.
 */
export async function stopSshHost(hostDir: string, options: StopSshHostOptions = {}): Promise<void> {
  const dirs = hostPaths(hostDir);
  const pid = await findRunning(dirs);
  if (pid === undefined) {
    await rm(dirs.pidFile, { force: true });
    return;
  }
  const victims = options.keepSessions ? [pid] : [pid, ...(await descendants(pid))];
  for (const p of victims) killQuietly(p, 'SIGTERM');
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  while (victims.some(isAlive)) {
    if (Date.now() > deadline) {
      for (const p of victims) if (isAlive(p)) killQuietly(p, 'SIGKILL');
      await sleep(50);
      break;
    }
    await sleep(20);
  }
  await rm(dirs.pidFile, { force: true });
}

/** Whether the host's sshd runs, and whether its port answers. */
export async function sshHostStatus(hostDir: string): Promise<SshHostStatus> {
  const dirs = hostPaths(hostDir);
  const record = await readRecord(dirs);
  const pid = await findRunning(dirs);
  const listening =
    pid !== undefined && record !== undefined && (await tcpReachable(record.address, record.port, 500));
  return {
    running: pid !== undefined,
    pid,
    listening,
    name: record?.name,
    address: record?.address,
    port: record?.port,
  };
}

// ---------------------------------------------------------------------------------------------

interface HostPaths {
  hostDir: string;
  etc: string;
  run: string;
  log: string;
  root: string;
  hostKey: string;
  config: string;
  pidFile: string;
  record: string;
  sshdLog: string;
}

function hostPaths(hostDir: string): HostPaths {
  const abs = path.resolve(hostDir);
  return {
    hostDir: abs,
    etc: path.join(abs, 'etc'),
    run: path.join(abs, 'run'),
    log: path.join(abs, 'log'),
    root: path.join(abs, 'root'),
    hostKey: path.join(abs, 'etc', 'ssh_host_ed25519_key'),
    config: path.join(abs, 'etc', 'sshd_config'),
    pidFile: path.join(abs, 'run', 'sshd.pid'),
    record: path.join(abs, 'run', 'host.json'),
    sshdLog: path.join(abs, 'sshd.log'),
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function validateSpec(spec: SshHostSpec): void {
  if (!path.isAbsolute(spec.hostDir)) throw new Error(`hostDir must be absolute: ${spec.hostDir}`);
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) throw new Error(`bad host name: ${spec.name}`);
  if (net.isIP(spec.address) === 0) throw new Error(`address must be an IP address: ${spec.address}`);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535)
    throw new Error(`bad port: ${spec.port}`);
  const targets = ['/root', '/var/log', ...(spec.binds ?? []).map((b) => b.target)];
  for (const b of spec.binds ?? []) {
    if (!path.isAbsolute(b.source) || !path.isAbsolute(b.target)) {
      throw new Error(`bind mounts need absolute paths: ${b.source} -> ${b.target}`);
    }
  }
  // A bind over a directory that contains hostDir would hide sshd_config and the host key from sshd.
  for (const t of targets) {
    const rel = path.relative(t, path.resolve(spec.hostDir));
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
      throw new Error(`hostDir ${spec.hostDir} must not be under the bind target ${t}`);
    }
  }
  for (const [name, value] of Object.entries(spec.setEnv ?? {})) {
    if (!ENV_NAME.test(name)) throw new Error(`bad environment variable name: ${name}`);
    if (/["\n\r\\]/.test(value))
      throw new Error(`environment value of ${name} must not contain quotes or newlines`);
  }
  for (const p of spec.pathPrefix ?? []) {
    if (!path.isAbsolute(p) || /[:\s"]/.test(p)) throw new Error(`bad PATH entry: ${p}`);
  }
  for (const k of spec.authorizedKeys) {
    if (/[\r\n]/.test(k.trim())) throw new Error('an authorized key must be one line');
  }
}

function renderSshdConfig(spec: SshHostSpec, dirs: HostPaths): string {
  const env = [
    `PATH=${[...(spec.pathPrefix ?? []), SYSTEM_PATH].join(':')}`,
    ...Object.entries(spec.setEnv ?? {}).map(([k, v]) => (/\s/.test(v) ? `${k}="${v}"` : `${k}=${v}`)),
  ];
  return [
    `# sshd of lab host ${spec.name}; written by lab/components/sshd.ts on every start, do not edit.`,
    `ListenAddress ${spec.address}:${spec.port}`,
    `HostKey ${dirs.hostKey}`,
    `PidFile ${dirs.pidFile}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'AuthorizedKeysFile .ssh/authorized_keys',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes yes',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'X11Forwarding no',
    'AllowAgentForwarding no',
    // The bot keeps one connection per host and runs up to a few commands on it at once.
    'MaxSessions 20',
    'MaxStartups 50:30:100',
    'LogLevel INFO',
    // ForceCommand / command= would break SFTP and the runbook's literal commands.
    'Subsystem sftp internal-sftp',
    `SetEnv ${env.join(' ')}`,
    '',
  ].join('\n');
}

function renderStartScript(binds: readonly BindMount[], dirs: HostPaths): string {
  const q = shq;
  const steps = binds.map(
    (b) => `mkdir -p ${q(b.source)} ${q(b.target)} && mount --bind ${q(b.source)} ${q(b.target)}`,
  );
  return ['set -e', ...steps, `exec ${SSHD} -D -f ${q(dirs.config)} -E ${q(dirs.sshdLog)}`].join('\n');
}

function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

async function prepareRoot(rootDir: string, authorizedKeys: readonly string[]): Promise<void> {
  const sshDir = path.join(rootDir, '.ssh');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  // StrictModes: the home, ~/.ssh and authorized_keys must be root-owned and not group/world writable.
  for (const d of [rootDir, sshDir]) {
    await chown(d, 0, 0);
    await chmod(d, 0o700);
  }
  const file = path.join(sshDir, 'authorized_keys');
  const tmp = `${file}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, authorizedKeys.map((k) => `${k.trim()}\n`).join(''), { mode: 0o600 });
  await chown(tmp, 0, 0);
  await rename(tmp, file);
}

/** Generates `keyPath` and `keyPath.pub` once, atomically (concurrent callers end with the same key). */
async function ensureKeyPair(keyPath: string, comment: string): Promise<void> {
  if ((await exists(keyPath)) && (await exists(`${keyPath}.pub`))) return;
  if (await exists(keyPath)) {
    const { stdout } = await execFileAsync('ssh-keygen', ['-y', '-f', keyPath]);
    await writeFile(`${keyPath}.pub`, `${stdout.trim()} ${comment}\n`, { mode: 0o644 });
    return;
  }
  const tmp = `${keyPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', tmp]);
  try {
    await rename(`${tmp}.pub`, `${keyPath}.pub.${path.basename(tmp)}`);
    // link() fails if the key exists: whoever links first wins, the others keep that key.
    await link(tmp, keyPath);
    await rename(`${keyPath}.pub.${path.basename(tmp)}`, `${keyPath}.pub`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await rm(tmp, { force: true });
    await rm(`${tmp}.pub`, { force: true });
    await rm(`${keyPath}.pub.${path.basename(tmp)}`, { force: true });
  }
  if (!(await exists(`${keyPath}.pub`))) await ensureKeyPair(keyPath, comment);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readRecord(dirs: HostPaths): Promise<HostRecord | undefined> {
  try {
    return JSON.parse(await readFile(dirs.record, 'utf8')) as HostRecord;
  } catch {
    return undefined;
  }
}

/** The recorded sshd pid, if that process is alive and really is this host's sshd (pids get reused). */
async function findRunning(dirs: HostPaths): Promise<number | undefined> {
  const pid = readPidFile(dirs.pidFile);
  if (!isAlive(pid)) return undefined;
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
    return cmdline.includes('sshd') && cmdline.includes(dirs.config) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Synchronous on purpose: /proc reads never block, and callers poll in tight loops. */
function readProcStat(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

/** All live descendants of `pid` (sshd's per-connection children and what they run). */
async function descendants(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = readProcStat(Number(entry));
    if (!text) continue;
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function logTail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
