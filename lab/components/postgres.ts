/**
 * Extra PostgreSQL 15 clusters for the lab and the integration tests, run as plain processes
 * (`initdb` / `pg_ctl` / `pg_basebackup` from PG_BIN as the `postgres` OS user) beside the
 * machine's own server, which keeps 127.0.0.1:5432 and /var/run/postgresql — we never touch it.
 *
 * Every cluster gets its own loopback address + port AND its own `unix_socket_directories`: two
 * clusters on port 5432 with the default socket directory would fight over
 * /var/run/postgresql/.s.PGSQL.5432 (LAB-NOTES).
 *
 * All functions are idempotent: calling them again on a cluster that is already there (and
 * running) converges it to the asked-for state instead of failing, so `lab up` can be re-run.
 *
 * Secrets: passwords travel through the child's environment (PGPASSWORD) or a 0600 file, never a
 * command line (which any local user can read in /proc), and roles get a SCRAM verifier computed
 * here, so the clear-text password is not even sent to the server.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PG_BIN } from '../prereqs.js';
import { execFileAsync, isAlive, readPidFile, waitFor } from '../process.js';

/** A login over TCP (scram-sha-256 from 127.0.0.0/8). */
export interface PgLogin {
  readonly address: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

export type PgSetting = string | number | boolean;

export interface InitPrimaryOptions {
  /** Created if missing; must be empty or an existing cluster. Its parents must be traversable by `postgres`. */
  readonly dataDir: string;
  /** Loopback address to listen on (e.g. 127.0.2.1); never 127.0.0.1:5432, the machine's own server. */
  readonly address: string;
  readonly port: number;
  /** Directory for this cluster's Unix socket; must differ from every other cluster's. */
  readonly socketDir: string;
  /** Server log (pg_ctl -l). */
  readonly logFile: string;
  /** Default 100. A standby must have at least as many; createReplica copies it. */
  readonly maxConnections?: number;
  /** Password of the `postgres` superuser for TCP logins; without it only the socket admits it. */
  readonly superuserPassword?: string;
  /** Extra postgresql.conf settings, written last so they win. */
  readonly extraConf?: Readonly<Record<string, PgSetting>>;
}

export interface CreateReplicaOptions {
  /**
   * The primary and the replication login (a REPLICATION role). `socketDir`, when the primary runs
   * on this machine, lets us also confirm from the primary's own pg_stat_replication that the standby
   * streams: a plain REPLICATION role sees only NULLs in that view (pg_read_all_stats needed).
   */
  readonly primary: PgLogin & { readonly socketDir?: string };
  readonly dataDir: string;
  readonly address: string;
  readonly port: number;
  readonly socketDir: string;
  readonly logFile: string;
  /** Physical replication slot on the primary (created if missing): WAL is kept until the standby has it. */
  readonly slotName?: string;
  /** `cluster_name`, which the walreceiver reports as `application_name` on the primary. Default "replica". */
  readonly name?: string;
  readonly extraConf?: Readonly<Record<string, PgSetting>>;
  /** How long to wait for `streaming`. Default 30 s. */
  readonly timeoutMs?: number;
}

export interface RoleLogin {
  readonly name: string;
  readonly password: string;
}

export interface BootstrapOptions {
  readonly address: string;
  readonly port: number;
  readonly superuser: string;
  readonly password: string;
  readonly roles: {
    /** REPLICATION LOGIN: what standbys stream with. */
    readonly replicator: RoleLogin;
    /** The QNWIS application (`qnwis`): owns the databases. */
    readonly app: RoleLogin;
    /** The bot's least-privilege role (`qnwis_ops`). */
    readonly ops: RoleLogin;
  };
  /** Default `qnwis_prod` (gets pg_stat_statements). */
  readonly prodDatabase?: string;
  /** Default `qnwis_test` (restore drills). */
  readonly testDatabase?: string;
}

export interface ApplySqlFileOptions {
  readonly address: string;
  readonly port: number;
  /**
   * The role psql logs in as (the same connection as bootstrapQnwisDatabase). Objects it creates
   * belong to it: a file that the app must own should start with `SET ROLE qnwis;` or grant.
   */
  readonly superuser: string;
  readonly password: string;
  readonly database: string;
  readonly file: string;
  /** Run the whole file in one transaction (psql -1). Default true; turn off for CREATE DATABASE and the like. */
  readonly singleTransaction?: boolean;
}

export interface ClusterStatus {
  readonly running: boolean;
  readonly pid: number | null;
}

const bin = (name: string) => path.join(PG_BIN, name);
const START_TIMEOUT_S = 60;

// ---------------------------------------------------------------------------------------------
// Cluster lifecycle

/** initdb (when the directory is empty) and (re)write postgresql.conf, pg_hba.conf, pg_ident.conf. */
export async function initPrimary(opts: InitPrimaryOptions): Promise<void> {
  assertLoopbackSafe(opts.address, opts.port, opts.socketDir);
  const pgUser = await postgresIds();
  prepareDir(opts.dataDir, pgUser, 0o700);
  prepareDir(opts.socketDir, pgUser, 0o755);
  prepareLogFile(opts.logFile, pgUser);

  if (!existsSync(path.join(opts.dataDir, 'PG_VERSION'))) {
    if (readdirSync(opts.dataDir).length > 0) {
      throw new Error(
        `${opts.dataDir} is neither empty nor a PostgreSQL cluster; refusing to initdb over it`,
      );
    }
    // The password goes to initdb in a file only postgres can read, removed right after.
    const secretDir = opts.superuserPassword
      ? mkdtempSync(path.join(path.dirname(opts.dataDir), '.pwfile-'))
      : null;
    try {
      const args = [
        '-D',
        opts.dataDir,
        '-U',
        'postgres',
        '--auth-local=peer',
        '--auth-host=scram-sha-256',
        '--encoding=UTF8',
        // C locale: stable sorting and English messages whatever the machine's locale.
        '--locale=C',
      ];
      if (secretDir && opts.superuserPassword) {
        chownSync(secretDir, pgUser.uid, pgUser.gid);
        chmodSync(secretDir, 0o700);
        const pwfile = path.join(secretDir, 'pw');
        writeFileSync(pwfile, `${opts.superuserPassword}\n`, { mode: 0o600 });
        chownSync(pwfile, pgUser.uid, pgUser.gid);
        args.push(`--pwfile=${pwfile}`);
      }
      await runAsPostgres(bin('initdb'), args);
    } finally {
      if (secretDir) rmSync(secretDir, { recursive: true, force: true });
    }
  }

  writeClusterConfig(opts.dataDir, pgUser, {
    address: opts.address,
    port: opts.port,
    socketDir: opts.socketDir,
    maxConnections: opts.maxConnections ?? 100,
    extraConf: opts.extraConf,
  });
  // A running cluster picks up what a reload can apply; the rest applies at the next start.
  if (clusterStatus(opts.dataDir).running)
    await runAsPostgres(bin('pg_ctl'), ['-D', opts.dataDir, '-s', 'reload']);
}

/** `pg_ctl -w start`; when the cluster already runs, returns its postmaster's pid. */
export async function startCluster(opts: { dataDir: string; logFile: string }): Promise<{ pid: number }> {
  const before = clusterStatus(opts.dataDir);
  if (before.running && before.pid !== null) return { pid: before.pid };
  const pgUser = await postgresIds();
  prepareLogFile(opts.logFile, pgUser);
  // The socket directory may be gone (tmpfs, a cleaned /tmp) while the data dir survived.
  const socketDir = readConfSetting(opts.dataDir, 'unix_socket_directories');
  if (socketDir) prepareDir(socketDir, pgUser, 0o755);
  try {
    await runAsPostgres(bin('pg_ctl'), [
      '-D',
      opts.dataDir,
      '-l',
      opts.logFile,
      '-w',
      '-t',
      String(START_TIMEOUT_S),
      '-s',
      'start',
    ]);
  } catch (err) {
    throw new Error(`pg_ctl start ${opts.dataDir} failed; log tail:\n${tail(opts.logFile)}`, { cause: err });
  }
  const after = clusterStatus(opts.dataDir);
  if (!after.running || after.pid === null) {
    throw new Error(`${opts.dataDir} did not stay up; log tail:\n${tail(opts.logFile)}`);
  }
  return { pid: after.pid };
}

/** `pg_ctl -w stop`; a cluster that is not running is left alone. */
export async function stopCluster(opts: { dataDir: string; mode: 'fast' | 'immediate' }): Promise<void> {
  const status = clusterStatus(opts.dataDir);
  if (!status.running) return;
  await runAsPostgres(bin('pg_ctl'), [
    '-D',
    opts.dataDir,
    '-m',
    opts.mode,
    '-w',
    '-t',
    String(START_TIMEOUT_S),
    '-s',
    'stop',
  ]);
  // PID 1 here reaps late (LAB-NOTES): wait until the postmaster is really gone, not just unlinked.
  if (status.pid !== null)
    await waitFor(`postmaster ${status.pid} to exit`, () => !isAlive(status.pid ?? 0), 15_000);
}

/**
 * Running when postmaster.pid names a live `postgres` process. Read directly rather than via
 * `pg_ctl status`, whose `kill -0` calls a zombie alive (LAB-NOTES); the comm check guards against a
 * stale pid file whose pid was reused after a crash.
 */
export function clusterStatus(dataDir: string): ClusterStatus {
  const pid = readPidFile(path.join(dataDir, 'postmaster.pid'));
  if (pid === undefined || !isAlive(pid)) return { running: false, pid: null };
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'postgres' && comm !== 'postmaster') return { running: false, pid: null };
  } catch {
    return { running: false, pid: null };
  }
  return { running: true, pid };
}

// ---------------------------------------------------------------------------------------------
// Streaming replica

/**
 * A hot standby of `primary`: pg_basebackup -R -X stream -c fast into an empty `dataDir`, its own
 * config, start, and wait until it streams. Re-running on an existing standby just (re)starts it;
 * a data dir that was promoted meanwhile is refused (remove it to rebuild the replica).
 */
export async function createReplica(opts: CreateReplicaOptions): Promise<{ pid: number }> {
  assertLoopbackSafe(opts.address, opts.port, opts.socketDir);
  const name = opts.name ?? 'replica';
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(name))
    throw new Error(`replica name "${name}" must be [A-Za-z0-9_.-]{1,63}`);
  if (opts.slotName !== undefined && !/^[a-z0-9_]{1,63}$/.test(opts.slotName)) {
    throw new Error(`slot name "${opts.slotName}" must be [a-z0-9_]{1,63}`);
  }
  const pgUser = await postgresIds();
  prepareDir(opts.dataDir, pgUser, 0o700);
  prepareDir(opts.socketDir, pgUser, 0o755);
  prepareLogFile(opts.logFile, pgUser);

  // The standby must allow at least as many connections, workers, senders, prepared transactions and
  // locks as the primary, or it refuses to start (hot standby). Any login may read pg_settings.
  const primaryLogin: ClientTarget = {
    host: opts.primary.address,
    port: opts.primary.port,
    user: opts.primary.user,
    password: opts.primary.password,
    database: 'postgres',
  };
  const primarySettings = await withClient(
    primaryLogin,
    async (c) =>
      (
        await c.query<{ name: string; setting: string }>(
          `SELECT name, setting FROM pg_settings
            WHERE name IN ('max_connections', 'max_worker_processes', 'max_wal_senders',
                           'max_prepared_transactions', 'max_locks_per_transaction')`,
        )
      ).rows,
  );
  const settings: Record<string, PgSetting> = {};
  for (const row of primarySettings) settings[row.name] = Number(row.setting);

  if (!existsSync(path.join(opts.dataDir, 'PG_VERSION'))) {
    if (readdirSync(opts.dataDir).length > 0) {
      throw new Error(`${opts.dataDir} is neither empty nor a PostgreSQL cluster; refusing to overwrite it`);
    }
    const args = [
      '-h',
      opts.primary.address,
      '-p',
      String(opts.primary.port),
      '-U',
      opts.primary.user,
      '-D',
      opts.dataDir,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
      '-w',
    ];
    if (opts.slotName) {
      const slotExists = await withClient(primaryLogin, async (c) => {
        const r = await c.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [opts.slotName]);
        return (r.rowCount ?? 0) > 0;
      });
      args.push('-S', opts.slotName);
      if (!slotExists) args.push('-C');
    }
    // PGPASSWORD via the environment, never argv. `-R` writes primary_conninfo (password included)
    // into postgresql.auto.conf inside the 0700 data dir: the standby needs it to reconnect.
    await runAsPostgres(bin('pg_basebackup'), args, { PGPASSWORD: opts.primary.password }, 300_000);
  } else if (!existsSync(path.join(opts.dataDir, 'standby.signal'))) {
    throw new Error(
      `${opts.dataDir} is a cluster but not a standby (promoted?); remove it to rebuild the replica`,
    );
  }

  // The copy carries the primary's configuration (address, port, socket): replace all of it.
  writeClusterConfig(opts.dataDir, pgUser, {
    address: opts.address,
    port: opts.port,
    socketDir: opts.socketDir,
    maxConnections: Number(settings.max_connections ?? 100),
    extraConf: {
      cluster_name: name,
      hot_standby_feedback: true,
      ...Object.fromEntries(Object.entries(settings).filter(([k]) => k !== 'max_connections')),
      ...opts.extraConf,
    },
  });

  const { pid } = await startCluster({ dataDir: opts.dataDir, logFile: opts.logFile });
  await waitForStreaming({
    standbySocketDir: opts.socketDir,
    standbyPort: opts.port,
    primarySocketDir: opts.primary.socketDir,
    primaryPort: opts.primary.port,
    name,
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
  return { pid };
}

async function waitForStreaming(o: {
  standbySocketDir: string;
  standbyPort: number;
  primarySocketDir: string | undefined;
  primaryPort: number;
  name: string;
  timeoutMs: number;
}): Promise<void> {
  const standby = { host: o.standbySocketDir, port: o.standbyPort, user: 'postgres', database: 'postgres' };
  await waitFor(
    `standby ${o.name} to stream from the primary`,
    async () => {
      try {
        const receiver = await withClient(standby, async (c) => {
          const r = await c.query<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
          return r.rows[0]?.status;
        });
        if (receiver !== 'streaming') return false;
        if (!o.primarySocketDir) return true;
        const primary = {
          host: o.primarySocketDir,
          port: o.primaryPort,
          user: 'postgres',
          database: 'postgres',
        };
        return await withClient(primary, async (c) => {
          const r = await c.query<{ state: string }>(
            'SELECT state FROM pg_stat_replication WHERE application_name = $1',
            [o.name],
          );
          return r.rows.some((row) => row.state === 'streaming');
        });
      } catch {
        return false;
      }
    },
    o.timeoutMs,
  );
}

// ---------------------------------------------------------------------------------------------
// Roles, databases, schema

/**
 * Roles `replicator` (REPLICATION), `qnwis` (the app; owns the databases) and `qnwis_ops` (the bot:
 * pg_read_all_stats to see other sessions' queries, pg_signal_backend to terminate them — never a
 * superuser's — and EXECUTE on pg_promote, which must be granted per database), databases
 * qnwis_prod and qnwis_test (CONNECT only for those two roles), pg_stat_statements in qnwis_prod.
 * Every step checks first, so it can run again; passwords are reset to the given ones each time.
 */
export async function bootstrapQnwisDatabase(opts: BootstrapOptions): Promise<void> {
  const prod = opts.prodDatabase ?? 'qnwis_prod';
  const test = opts.testDatabase ?? 'qnwis_test';
  const { replicator, app, ops } = opts.roles;
  for (const n of [replicator.name, app.name, ops.name, prod, test]) assertSqlName(n);
  const admin = { host: opts.address, port: opts.port, user: opts.superuser, password: opts.password };

  await withClient({ ...admin, database: 'postgres' }, async (c) => {
    await ensureRole(c, replicator, 'LOGIN REPLICATION');
    await ensureRole(c, app, 'LOGIN');
    await ensureRole(c, ops, 'LOGIN');
    await c.query(`GRANT pg_read_all_stats, pg_signal_backend TO ${c.escapeIdentifier(ops.name)}`);
    for (const db of [prod, test]) {
      const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      if ((exists.rowCount ?? 0) === 0) {
        await c.query(`CREATE DATABASE ${c.escapeIdentifier(db)} OWNER ${c.escapeIdentifier(app.name)}`);
      }
      await c.query(`REVOKE CONNECT ON DATABASE ${c.escapeIdentifier(db)} FROM PUBLIC`);
      await c.query(
        `GRANT CONNECT ON DATABASE ${c.escapeIdentifier(db)} TO ${c.escapeIdentifier(app.name)}, ${c.escapeIdentifier(ops.name)}`,
      );
    }
  });

  for (const db of [prod, test]) {
    await withClient({ ...admin, database: db }, async (c) => {
      if (db === prod) await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      // Function privileges live in each database's catalog, unlike role memberships.
      await c.query(
        `GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO ${c.escapeIdentifier(ops.name)}`,
      );
    });
  }
}

/**
 * Loads a SQL file with psql (so `\` meta-commands and COPY … FROM stdin work), stopping at the
 * first error. The password travels in PGPASSWORD.
 */
export async function applySqlFile(opts: ApplySqlFileOptions): Promise<void> {
  const args = [
    '-X',
    '-q',
    '-v',
    'ON_ERROR_STOP=1',
    '-h',
    opts.address,
    '-p',
    String(opts.port),
    '-U',
    opts.superuser,
    '-d',
    opts.database,
    '-w',
    '-f',
    opts.file,
  ];
  if (opts.singleTransaction ?? true) args.unshift('-1');
  try {
    await execFileAsync(bin('psql'), args, {
      env: { ...process.env, PGPASSWORD: opts.password, PGAPPNAME: 'qnwis-lab' },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 300_000,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`psql -f ${opts.file} on ${opts.database} failed: ${stderr.trim().slice(-2000)}`, {
      cause: err,
    });
  }
}

async function ensureRole(c: pg.Client, role: RoleLogin, attributes: string): Promise<void> {
  const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role.name]);
  const verb = (exists.rowCount ?? 0) > 0 ? 'ALTER' : 'CREATE';
  // Utility statements take no bind parameters; the verifier is a quoted literal of base64 text.
  await c.query(
    `${verb} ROLE ${c.escapeIdentifier(role.name)} WITH ${attributes} PASSWORD ${c.escapeLiteral(scramVerifier(role.password))}`,
  );
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as in pg's
 * `scram_build_secret`). Sending this instead of the password keeps the clear text out of the server
 * log and pg_stat_statements. PostgreSQL applies SASLprep to non-ASCII passwords, which this does
 * not: lab passwords are ASCII.
 */
export function scramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  if (!/^[\x20-\x7e]+$/.test(password)) throw new Error('lab role passwords must be printable ASCII');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// Configuration files

interface ClusterConfig {
  address: string;
  port: number;
  socketDir: string;
  maxConnections: number;
  extraConf: Readonly<Record<string, PgSetting>> | undefined;
}

/** postgresql.conf for both roles: a standby ignores what only a primary uses, and vice versa. */
export function postgresqlConf(c: ClusterConfig): string {
  const settings: Record<string, PgSetting> = {
    listen_addresses: c.address,
    port: c.port,
    unix_socket_directories: c.socketDir,
    max_connections: c.maxConnections,
    // Several clusters share a 2-core test machine.
    shared_buffers: '32MB',
    password_encryption: 'scram-sha-256',
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    // Lets a standby without a slot catch up after a short outage.
    wal_keep_size: '128MB',
    hot_standby: true,
    shared_preload_libraries: 'pg_stat_statements',
    track_io_timing: true,
    // pg_ctl -l captures stderr into the log file; no collector, no log/ directory in the data dir.
    logging_collector: false,
    log_destination: 'stderr',
    log_line_prefix: '%m [%p] %q%u@%d/%a ',
    // Slow statements appear in the log like production's (runbook: slow query performance).
    log_min_duration_statement: 1000,
    log_lock_waits: true,
    log_replication_commands: false,
    // Never 'ddl'/'all': CREATE ROLE … PASSWORD would land in the log.
    log_statement: 'none',
    log_timezone: 'UTC',
    timezone: 'UTC',
    lc_messages: 'C',
    ...c.extraConf,
  };
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${confValue(v)}`);
  return `# Generated by lab/components/postgres.ts; rewritten on every initPrimary/createReplica.\n${lines.join('\n')}\n`;
}

/**
 * Local: only the postgres OS user (and root, for the lab tooling) as `postgres`, by peer identity
 * mapped in pg_ident.conf — no password on the socket, and no other local user gets in.
 * Host: scram-sha-256 from loopback for every role, replication included.
 */
export const PG_HBA_CONF = `# Generated by lab/components/postgres.ts
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          postgres            peer map=lab_admin
host    all          all   127.0.0.0/8   scram-sha-256
host    replication  all   127.0.0.0/8   scram-sha-256
`;

export const PG_IDENT_CONF = `# Generated by lab/components/postgres.ts
# MAPNAME    SYSTEM-USER  PG-USER
lab_admin    postgres     postgres
lab_admin    root         postgres
`;

function writeClusterConfig(dataDir: string, owner: PgIds, config: ClusterConfig): void {
  const files: [string, string][] = [
    ['postgresql.conf', postgresqlConf(config)],
    ['pg_hba.conf', PG_HBA_CONF],
    ['pg_ident.conf', PG_IDENT_CONF],
  ];
  for (const [name, text] of files) {
    const file = path.join(dataDir, name);
    writeFileSync(file, text, { mode: 0o600 });
    chownSync(file, owner.uid, owner.gid);
  }
}

function confValue(v: PgSetting): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return `'${v.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** One setting as written by postgresqlConf (no includes, no continuation lines to handle). */
function readConfSetting(dataDir: string, name: string): string | undefined {
  const file = path.join(dataDir, 'postgresql.conf');
  if (!existsSync(file)) return undefined;
  const re = new RegExp(`^\\s*${name}\\s*=\\s*'([^']*)'`, 'm');
  return re.exec(readFileSync(file, 'utf8'))?.[1];
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface PgIds {
  uid: number;
  gid: number;
}

let cachedIds: PgIds | undefined;

async function postgresIds(): Promise<PgIds> {
  if (cachedIds) return cachedIds;
  if (process.getuid?.() !== 0)
    throw new Error('the lab PostgreSQL clusters need root (runuser -u postgres)');
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    execFileAsync('id', ['-u', 'postgres']),
    execFileAsync('id', ['-g', 'postgres']),
  ]);
  cachedIds = { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  return cachedIds;
}

async function runAsPostgres(
  command: string,
  args: string[],
  extraEnv: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<string> {
  try {
    const { stdout } = await execFileAsync('runuser', ['-u', 'postgres', '--', command, ...args], {
      // runuser keeps the environment; a cwd postgres can enter avoids "could not change directory".
      env: { ...process.env, ...extraEnv },
      cwd: '/',
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`${path.basename(command)} ${args.join(' ')} failed: ${stderr || String(err)}`, {
      cause: err,
    });
  }
}

function prepareDir(dir: string, owner: PgIds, mode: number): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, mode);
  // Every parent must be enterable by postgres, or initdb/pg_ctl fail with an obscure EACCES.
  for (let p = path.dirname(dir); p !== path.dirname(p); p = path.dirname(p)) {
    const st = readStatMode(p);
    if (st !== undefined && (st & 0o001) === 0) {
      throw new Error(`${p} is not traversable by the postgres user (mode ${st.toString(8)}); chmod o+x it`);
    }
  }
}

function readStatMode(p: string): number | undefined {
  try {
    return statSync(p).mode & 0o777;
  } catch {
    return undefined;
  }
}

function prepareLogFile(file: string, owner: PgIds): void {
  mkdirSync(path.dirname(file), { recursive: true });
  if (!existsSync(file)) writeFileSync(file, '', { mode: 0o640 });
  chownSync(file, owner.uid, owner.gid);
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Never the machine's own server: 127.0.0.1:5432 and /var/run/postgresql belong to it. Any other
 * loopback address may reuse port 5432.
 */
function assertLoopbackSafe(address: string, port: number, socketDir: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address))
    throw new Error(`${address} is not a loopback IPv4 address`);
  if (address === '127.0.0.1' && port === 5432)
    throw new Error('127.0.0.1:5432 is the machine server; use another address');
  const resolved = path.resolve(socketDir);
  if (resolved === '/var/run/postgresql' || resolved === '/run/postgresql') {
    throw new Error(`${socketDir} is the machine server's socket directory; give each cluster its own`);
  }
}

function assertSqlName(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`"${name}" is not a plain lower-case SQL name`);
}

interface ClientTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

/** One short-lived admin connection; errors on the idle client are swallowed (it is closed anyway). */
async function withClient<T>(target: ClientTarget, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    ...target,
    application_name: 'qnwis-lab',
    connectionTimeoutMillis: 5_000,
    statement_timeout: 60_000,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}
