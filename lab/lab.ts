/**
 * The local QNWIS lab: the fleet described by the lab inventory, simulated on loopback with real
 * processes (one sshd per host, the QNWIS app stand-in, PostgreSQL primary + streaming replica,
 * Redis primary + replica, nginx, Prometheus, Alertmanager).
 *
 * Every process the lab starts is recorded by PID under the lab directory, and only those are
 * ever stopped. `up` is idempotent: what already runs is left alone.
 */
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type Host, hostsWithRole, type Inventory, loadInventory } from '../src/inventory.js';
import {
  reloadAlertmanager,
  reloadPrometheus,
  startAlertmanager,
  startPrometheus,
} from './components/monitoring.js';
import { writeNginxConfig } from './components/nginx.js';
import {
  applySqlFile,
  bootstrapQnwisDatabase,
  clusterStatus,
  createReplica,
  initPrimary,
  startCluster,
  stopCluster,
} from './components/postgres.js';
import { ensureClientKey, sshHostStatus, startSshHost, stopSshHost } from './components/sshd.js';
import { botEnvironment, type LabCredentials, loadOrCreateCredentials } from './credentials.js';
import { REPORTS_ROLE } from './faults.js';
import { ensureMachineServices, ensurePrerequisites, PG_BIN } from './prereqs.js';
import {
  execFileAsync,
  httpOk,
  isAlive,
  readPidFile,
  spawnDetached,
  stopPid,
  tcpReachable,
  waitFor,
} from './process.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const APP_PORT = 8000;
/** Owns the QNWIS tables (NOLOGIN); see upDatabase. */
export const OWNER_ROLE = 'qnwis_owner';
/** NOINHERIT bridge from the bot's role to OWNER_ROLE: reachable by SET ROLE only. */
export const MAINTENANCE_ROLE = 'qnwis_maintenance';
export const NODE_EXPORTER_PORT = 9100;
/**
 * The app's settings file on every app host (the runbook's `/etc/qnwis/.env`): the qnwis unit
 * reads DATABASE_HOST & co. from it at every start, and a failover rewrites DATABASE_HOST.
 */
export const APP_SETTINGS_FILE = '/etc/qnwis/.env';
/** The app's deployment directory on every app host (lab/opt-qnwis bind-mounted there). */
export const APP_DIR = '/opt/qnwis';
/** The certificate name (certbot lineage) nginx serves on the lb's TLS endpoint. */
export const LAB_TLS_NAME = 'api.qnwis.lab';
/** A lab whose certificate has fewer days left than this gets a fresh one at `up`. */
const TLS_MIN_DAYS_AT_UP = 14;

export interface LabOptions {
  /** Lab inventory (LAB_INVENTORY); the lab builds exactly the fleet it describes. */
  inventoryPath?: string;
  /** Where the lab keeps state, keys, data and logs (LAB_DIR). */
  dir?: string;
  /** Where Alertmanager sends notifications for the bot (LAB_BOT_URL). */
  botUrl?: string;
  /** The lab's webhook sink (LAB_SINK_LISTEN). */
  sinkListen?: string;
  /** Also run the bot (default true): `npm run lab` is the bot on the local lab. */
  withBot?: boolean;
  /**
   * What `up` does while someone holds the lab exclusively (`<dir>/EXCLUSIVE`, the helpers'
   * protocol around failovers and restarts): `wait` (default: a test run's global setup must not
   * "repair" a lab in the middle of someone's failover), or `ignore` (the CLI: a person decided).
   */
  exclusive?: 'wait' | 'ignore';
  log?: (line: string) => void;
}

export interface ComponentStatus {
  name: string;
  kind:
    | 'sshd'
    | 'qnwis'
    | 'postgres'
    | 'redis'
    | 'nginx'
    | 'prometheus'
    | 'alertmanager'
    | 'agent'
    | 'slack-local'
    | 'pagerduty-local'
    | 'bot';
  host?: string;
  address: string;
  pid: number | null;
  healthy: boolean;
  detail?: string;
}

export interface LabStatus {
  dir: string;
  inventory: string;
  up: boolean;
  components: ComponentStatus[];
  credentials: LabCredentials | null;
  /** The environment the bot needs to operate this lab. */
  botEnv: Record<string, string> | null;
  urls: {
    prometheus: string;
    alertmanager: string;
    loadBalancer: string;
    sink: string;
    slack: string;
    pagerduty: string;
    bot: string;
  };
}

function listenOf(url: string | undefined, fallback: string): string {
  if (!url) return fallback;
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
}

export class Lab {
  readonly inventory: Inventory;
  readonly dir: string;
  readonly botUrl: string;
  readonly sinkListen: string;
  readonly prometheusListen: string;
  readonly alertmanagerListen: string;
  readonly lbListen: string;
  readonly slackListen = '127.0.0.1:3100';
  readonly pagerdutyListen = '127.0.0.1:3200';
  readonly withBot: boolean;
  private readonly exclusive: 'wait' | 'ignore';
  private readonly log: (line: string) => void;

  constructor(opts: LabOptions = {}) {
    this.inventory = loadInventory(opts.inventoryPath ?? path.join(REPO_ROOT, 'lab/inventory.yaml'));
    this.dir = path.resolve(opts.dir ?? path.join(REPO_ROOT, '.lab'));
    this.botUrl = opts.botUrl ?? 'http://127.0.0.1:3000';
    this.sinkListen = opts.sinkListen ?? '127.0.0.1:9097';
    this.prometheusListen = listenOf(this.inventory.monitoring.prometheusUrl, '127.0.0.1:9090');
    this.alertmanagerListen = listenOf(this.inventory.monitoring.alertmanagerUrl, '127.0.0.1:9093');
    this.lbListen = listenOf(this.inventory.monitoring.loadBalancerUrl, '127.0.4.1:8080');
    this.withBot = opts.withBot ?? true;
    this.exclusive = opts.exclusive ?? 'wait';
    this.log = opts.log ?? (() => {});
  }

  // ---- paths -------------------------------------------------------------------------------

  hostDir(name: string): string {
    return path.join(this.dir, 'hosts', name);
  }
  private sshDir(): string {
    return path.join(this.dir, 'ssh');
  }
  private pgDataDir(host: string): string {
    return path.join(this.hostDir(host), 'pgdata');
  }
  private unitFile(host: string, unit: string): string {
    return path.join(this.hostDir(host), 'units', `${unit}.unit`);
  }
  private runFile(host: string, name: string): string {
    return path.join(this.hostDir(host), 'run', name);
  }

  private host(role: Parameters<typeof hostsWithRole>[1]): Host {
    const [h] = hostsWithRole(this.inventory, role);
    if (!h) throw new Error(`the lab inventory has no host with role ${role}`);
    return h;
  }
  appHosts(): Host[] {
    return hostsWithRole(this.inventory, 'app');
  }

  /** Environment every process of a simulated host carries (sshd SetEnv, systemctl, daemons). */
  hostEnv(host: Host): Record<string, string> {
    const isDb = host.roles.includes('db-primary') || host.roles.includes('db-replica');
    return {
      QNWIS_LAB_HOST: host.name,
      QNWIS_LAB_HOST_DIR: this.hostDir(host.name),
      QNWIS_LAB_ROOT: REPO_ROOT,
      // On a database host, `sudo -u postgres psql|pg_dump …` (runbook "Backup") must reach this
      // host's cluster by its own socket, as on a real server; without it libpq's default socket
      // directory is the machine's own PostgreSQL (/var/run/postgresql). `sudo` here is runuser,
      // which keeps the environment.
      ...(isDb ? { PGHOST: this.runFile(host.name, 'pg-socket') } : {}),
    };
  }

  private shimPath(): string {
    return path.join(REPO_ROOT, 'lab/shims');
  }

  /**
   * Runs a command as the simulated host would (its systemctl/sudo/journalctl shims first on PATH,
   * its environment), without SSH: the lab's own control path.
   */
  async hostExec(
    host: Host,
    argv: string[],
    timeoutMs = 60_000,
  ): Promise<{ stdout: string; stderr: string }> {
    const [command, ...args] = argv;
    if (!command) throw new Error('hostExec needs a command');
    return execFileAsync(command, args, {
      env: {
        ...this.hostEnv(host),
        PATH: `${this.shimPath()}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
        HOME: '/root',
      },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
  }

  // ---- up ----------------------------------------------------------------------------------

  async up(): Promise<LabStatus> {
    if (this.exclusive === 'wait') await this.waitWhileExclusive();
    const t0 = Date.now();
    await ensurePrerequisites(this.log);
    await ensureMachineServices(this.log);
    mkdirSync(this.dir, { recursive: true });
    const creds = loadOrCreateCredentials(this.dir);
    await Promise.all([this.upHosts(), this.upDatabase(creds), this.upRedis()]);
    // An app whose database setting changed (back to db-primary after a failover) restarts.
    const repointed = this.writeUnits(creds);
    await Promise.all(
      this.appHosts().map((h) => this.systemctl(h, repointed.has(h.name) ? 'restart' : 'start', 'qnwis')),
    );
    await this.ensureTlsCertificate();
    await this.systemctl(this.host('lb'), 'start', 'nginx');
    await this.upAgent(creds);
    await Promise.all([this.upPrometheus(), this.upAlertmanager(creds), this.upStandIns(creds)]);
    this.writeBotEnv(creds);
    if (this.withBot) await this.upBot(creds);
    await this.waitHealthy();
    this.log(`lab is up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return this.status();
  }

  private async upHosts(): Promise<void> {
    const client = await ensureClientKey(this.sshDir());
    const lines = await Promise.all(
      [...this.inventory.hosts.values()].map(async (host) => {
        const hostDir = this.hostDir(host.name);
        const binds = [
          { source: path.join(hostDir, 'root'), target: '/root' },
          { source: path.join(hostDir, 'log'), target: '/var/log' },
        ];
        if (host.roles.includes('db-primary') || host.roles.includes('db-replica')) {
          mkdirSync(path.join(hostDir, 'backups'), { recursive: true });
          binds.push({ source: path.join(hostDir, 'backups'), target: this.inventory.database.backupDir });
        }
        // The runbook's literal paths: /etc/qnwis/.env on app hosts (failover rewrites it),
        // /etc/letsencrypt on the load balancer (certbot's lineages).
        if (host.roles.includes('app')) {
          binds.push({ source: path.join(hostDir, 'etc/qnwis'), target: path.dirname(APP_SETTINGS_FILE) });
          // The app's deployment directory (runbook: /opt/qnwis, venv/), shared by every app host as
          // one release is: scripts/warm_cache.py for `warm-cache` (src/ops/commands/warm-cache.ts).
          binds.push({ source: path.join(REPO_ROOT, 'lab/opt-qnwis'), target: APP_DIR });
        }
        if (host.roles.includes('lb')) {
          binds.push({ source: path.join(hostDir, 'etc/letsencrypt'), target: '/etc/letsencrypt' });
        }
        mkdirSync(path.join(hostDir, 'log/qnwis'), { recursive: true });
        const started = await startSshHost({
          name: host.name,
          address: host.address,
          port: host.ssh.port,
          hostDir,
          authorizedKeys: [client.publicKey],
          pathPrefix: [this.shimPath()],
          setEnv: this.hostEnv(host),
          binds,
        });
        return started.knownHostsLine;
      }),
    );
    writeFileSync(path.join(this.sshDir(), 'known_hosts'), `${lines.join('\n')}\n`);
  }

  private async upDatabase(creds: LabCredentials): Promise<void> {
    const primary = this.host('db-primary');
    const replica = this.host('db-replica');
    const port = this.inventory.database.port;
    const primaryDir = this.pgDataDir(primary.name);
    mkdirSync(path.join(this.hostDir(primary.name), 'log/postgresql'), { recursive: true });
    mkdirSync(path.join(this.hostDir(replica.name), 'log/postgresql'), { recursive: true });
    await initPrimary({
      dataDir: primaryDir,
      address: primary.address,
      port,
      socketDir: this.runFile(primary.name, 'pg-socket'),
      logFile: this.pgLogFile(primary.name),
      superuserPassword: creds.postgres.superuser,
      maxConnections: 100,
    });
    await startCluster({ dataDir: primaryDir, logFile: this.pgLogFile(primary.name) });
    const conn = {
      address: primary.address,
      port,
      superuser: 'postgres',
      password: creds.postgres.superuser,
    };
    await bootstrapQnwisDatabase({
      ...conn,
      roles: {
        replicator: { name: 'replicator', password: creds.postgres.replicator },
        app: { name: 'qnwis', password: creds.postgres.app },
        ops: { name: this.inventory.database.user, password: creds.postgres.ops },
      },
    });
    await applySqlFile({
      address: primary.address,
      port,
      superuser: 'postgres',
      password: creds.postgres.superuser,
      database: this.inventory.database.name,
      file: path.join(REPO_ROOT, 'lab/sql/qnwis_prod.sql'),
    });
    // The role of the long "report" query the slow-query fault runs: not a superuser, so the
    // bot's ops role (pg_signal_backend) may terminate it as the runbook does.
    await this.psql(
      primary,
      creds,
      `DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${REPORTS_ROLE}') THEN CREATE ROLE ${REPORTS_ROLE} LOGIN; END IF; END$$;
       ALTER ROLE ${REPORTS_ROLE} PASSWORD '${creds.postgres.app}';
       GRANT CONNECT ON DATABASE ${this.inventory.database.name} TO ${REPORTS_ROLE};`,
    );
    await this.psql(
      primary,
      creds,
      `GRANT SELECT, UPDATE ON qtr_employment_stats TO ${REPORTS_ROLE}`,
      this.inventory.database.name,
    );
    // The bot's ops role reads the query log for the runbook's security check (> 100 queries/hour).
    await this.psql(
      primary,
      creds,
      `GRANT USAGE ON SCHEMA audit TO ${this.inventory.database.user}; GRANT SELECT ON audit.query_log TO ${this.inventory.database.user}`,
      this.inventory.database.name,
    );
    // VACUUM, ANALYZE and REINDEX of a table need its owner's rights before PostgreSQL 17 (no
    // MAINTAIN privilege). The schema belongs to qnwis_owner (NOLOGIN, like a migrations role); the
    // bot's role reaches it only through qnwis_maintenance, which is NOINHERIT: the ops role holds
    // none of the owner's rights by default and must SET ROLE for one maintenance statement on a
    // connection of its own (src/ops/adapters/postgres.ts `maintain`).
    await this.psql(
      primary,
      creds,
      `DO $$BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${OWNER_ROLE}') THEN CREATE ROLE ${OWNER_ROLE} NOLOGIN; END IF;
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${MAINTENANCE_ROLE}') THEN CREATE ROLE ${MAINTENANCE_ROLE} NOLOGIN NOINHERIT; END IF;
       END$$;
       GRANT ${OWNER_ROLE} TO ${MAINTENANCE_ROLE};
       GRANT ${MAINTENANCE_ROLE} TO ${this.inventory.database.user};`,
    );
    await this.psql(
      primary,
      creds,
      `ALTER SCHEMA audit OWNER TO ${OWNER_ROLE};
       DO $$DECLARE t record; BEGIN
         FOR t IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname IN ('public', 'audit') AND c.relkind IN ('r', 'p')
                     AND c.relowner <> '${OWNER_ROLE}'::regrole
         LOOP EXECUTE format('ALTER TABLE %I.%I OWNER TO ${OWNER_ROLE}', t.nspname, t.relname); END LOOP;
       END$$;`,
      this.inventory.database.name,
    );
    await this.ensureReplica(creds);
  }

  /**
   * db-replica as a streaming standby of db-primary. A replica that a failover promoted has left
   * db-primary's timeline: the only way back is a fresh base backup, so its data directory is
   * discarded (with what it wrote as a primary) and rebuilt. Returns whether it was rebuilt.
   */
  private async ensureReplica(creds: LabCredentials): Promise<boolean> {
    const primary = this.host('db-primary');
    const replica = this.host('db-replica');
    const port = this.inventory.database.port;
    const dataDir = this.pgDataDir(replica.name);
    let rebuilt = false;
    if (existsSync(path.join(dataDir, 'PG_VERSION')) && !existsSync(path.join(dataDir, 'standby.signal'))) {
      this.log(`${replica.name} was promoted (a failover): rebuilding it as a standby of ${primary.name}`);
      await stopCluster({ dataDir, mode: 'fast' });
      rmSync(dataDir, { recursive: true, force: true });
      rebuilt = true;
    }
    await createReplica({
      primary: {
        address: primary.address,
        port,
        user: 'replicator',
        password: creds.postgres.replicator,
        socketDir: this.runFile(primary.name, 'pg-socket'),
      },
      dataDir,
      address: replica.address,
      port,
      socketDir: this.runFile(replica.name, 'pg-socket'),
      logFile: this.pgLogFile(replica.name),
    });
    return rebuilt;
  }

  /**
   * Undoes the bot's `failover` (or half of one) for the next test: db-primary runs as the
   * primary, db-replica is a streaming standby of it again (rebuilt when it was promoted), every
   * app host's /etc/qnwis/.env names db-primary, and the app hosts whose setting changed are
   * restarted one at a time, each until /health answers. On an intact lab it changes nothing.
   * Returns what it did, one line per change.
   */
  async restoreDatabases(): Promise<string[]> {
    const creds = loadOrCreateCredentials(this.dir);
    const primary = this.host('db-primary');
    const replica = this.host('db-replica');
    const done: string[] = [];
    const primaryDir = this.pgDataDir(primary.name);
    if (existsSync(path.join(primaryDir, 'standby.signal'))) {
      throw new Error(
        `${primary.name} is a standby (rebuilt after a failover?): the lab cannot restore this topology; ` +
          'npm run lab -- destroy && npm run lab -- up --detach',
      );
    }
    if (!clusterStatus(primaryDir).running) {
      await this.systemctl(primary, 'start', 'postgresql');
      done.push(`${primary.name}: PostgreSQL started`);
    }
    const replicaDir = this.pgDataDir(replica.name);
    const promoted = !existsSync(path.join(replicaDir, 'standby.signal'));
    if (promoted || !clusterStatus(replicaDir).running) {
      await this.ensureReplica(creds);
      done.push(
        promoted
          ? `${replica.name}: rebuilt from a base backup of ${primary.name}, streaming`
          : `${replica.name}: started, streaming from ${primary.name}`,
      );
    }
    for (const app of this.appHosts()) {
      if (!this.writeAppSettings(app, creds, primary)) continue;
      await this.systemctl(app, 'restart', 'qnwis');
      await waitFor(
        `${app.name} to answer /health`,
        () => httpOk(`http://${app.address}:${APP_PORT}/health`),
        30_000,
      );
      done.push(`${app.name}: DATABASE_HOST=${primary.address} again, qnwis restarted`);
    }
    return done;
  }

  /** The app settings file of an app host, as the machine sees it (the host sees APP_SETTINGS_FILE). */
  appSettingsPath(host: string): string {
    return path.join(this.hostDir(host), 'etc/qnwis', path.basename(APP_SETTINGS_FILE));
  }

  /**
   * Writes the host's /etc/qnwis/.env with the database settings from the inventory, naming
   * `database` as DATABASE_HOST; atomically (temporary file, then rename), mode 600 (it holds the
   * app's password). Returns whether the content changed.
   */
  private writeAppSettings(host: Host, creds: LabCredentials, database: Host): boolean {
    const db = this.inventory.database;
    // The unit builds a URL from these without escaping: the lab's passwords are base64url.
    if (!/^[A-Za-z0-9_-]+$/.test(creds.postgres.app))
      throw new Error('the app database password must be base64url for the settings file');
    const text = [
      "# QNWIS application settings (the runbook's /etc/qnwis/.env), written by the QNWIS lab.",
      '# The qnwis unit reads them at every start. A failover rewrites DATABASE_HOST, then restarts.',
      `DATABASE_HOST=${database.address}`,
      `DATABASE_PORT=${db.port}`,
      `DATABASE_NAME=${db.name}`,
      'DATABASE_USER=qnwis',
      `DATABASE_PASSWORD=${creds.postgres.app}`,
      `DATABASE_POOL_SIZE=${db.appPoolSize}`,
      '',
    ].join('\n');
    const file = this.appSettingsPath(host.name);
    const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    if (before === text) return false;
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.lab-tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    return true;
  }

  /** The inventory's TLS endpoint on the load balancer ("address:port"), if it lists one. */
  private lbTlsListen(): string | undefined {
    const lb = this.host('lb');
    return this.inventory.monitoring.tlsEndpoints.find((e) => e.slice(0, e.lastIndexOf(':')) === lb.address);
  }

  private tlsLivePath(file: 'fullchain.pem' | 'privkey.pem' | 'cert.pem'): string {
    return path.join(this.hostDir(this.host('lb').name), 'etc/letsencrypt/live', LAB_TLS_NAME, file);
  }

  /**
   * (Re-)issues the load balancer's certificate through the host's `certbot` (lab/shims/certbot:
   * openssl and the lab CA), valid `days` (default 90), and reloads nginx when it runs. With
   * `days` below certbot's 30-day renewal window the certificate is due for `certbot renew`.
   */
  async issueTlsCertificate(opts: { days?: number } = {}): Promise<void> {
    const lb = this.host('lb');
    const days = opts.days ?? 90;
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new Error('days must be 1..3650');
    await this.hostExec(lb, [
      'env',
      `QNWIS_LAB_CERT_DAYS=${days}`,
      'certbot',
      'certonly',
      '--standalone',
      '--non-interactive',
      '--agree-tos',
      '--force-renewal',
      '-d',
      LAB_TLS_NAME,
    ]);
    const listen = this.lbTlsListen();
    if (listen && (await this.hostExec(lb, ['systemctl', 'is-active', 'nginx']).catch(() => undefined))) {
      await this.systemctl(lb, 'reload', 'nginx');
      // nginx swaps its workers after the HUP: wait until the new certificate is what it serves.
      const want = new X509Certificate(readFileSync(this.tlsLivePath('cert.pem'))).fingerprint256;
      // Old workers finish their connections before they exit, and a new connection may still
      // reach one: only several handshakes in a row with the new certificate mean it is served.
      let streak = 0;
      await waitFor(
        'nginx to serve the new certificate',
        async () => {
          streak = (await servedFingerprint(listen)) === want ? streak + 1 : 0;
          return streak >= 5;
        },
        20_000,
      );
    }
  }

  /** At `up`: a certificate for the lb's TLS endpoint exists and is not about to expire. */
  private async ensureTlsCertificate(): Promise<void> {
    if (!this.lbTlsListen()) return;
    const cert = this.tlsLivePath('cert.pem');
    const fresh =
      existsSync(cert) &&
      (await execFileAsync('openssl', [
        'x509',
        '-noout',
        '-checkend',
        String(TLS_MIN_DAYS_AT_UP * 86_400),
        '-in',
        cert,
      ]).then(
        () => true,
        () => false,
      ));
    if (!fresh) await this.issueTlsCertificate();
  }

  private pgLogFile(host: string): string {
    return path.join(this.hostDir(host), 'log/postgresql/postgresql-15-main.log');
  }

  private async upRedis(): Promise<void> {
    const [primary, ...replicas] = hostsWithRole(this.inventory, 'redis');
    if (!primary) return;
    this.writeRedisUnit(primary, undefined);
    await this.systemctl(primary, 'start', 'redis');
    await waitFor(`redis on ${primary.name}`, () => this.redisPing(primary), 15_000);
    await Promise.all(
      replicas.map(async (replica) => {
        this.writeRedisUnit(replica, primary);
        await this.systemctl(replica, 'start', 'redis');
        await waitFor(
          `redis replica ${replica.name} to sync`,
          async () => (await this.redisInfo(replica, 'replication')).includes('master_link_status:up'),
          20_000,
        );
      }),
    );
  }

  async redisCli(host: Host, args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(
      '/usr/bin/redis-cli',
      ['-h', host.address, '-p', String(this.inventory.cache.port), ...args],
      { timeout: 5000 },
    );
    return stdout;
  }
  private async redisPing(host: Host): Promise<boolean> {
    try {
      return (await this.redisCli(host, ['PING'])).trim() === 'PONG';
    } catch {
      return false;
    }
  }
  private async redisInfo(host: Host, section: string): Promise<string> {
    try {
      return await this.redisCli(host, ['INFO', section]);
    } catch {
      return '';
    }
  }

  private writeUnit(host: Host, unit: string, lines: Record<string, string>): void {
    const file = this.unitFile(host.name, unit);
    mkdirSync(path.dirname(file), { recursive: true });
    const body = Object.entries(lines)
      .map(([k, v]) => `${k}=${shellQuote(v)}`)
      .join('\n');
    // Units may carry secrets (database passwords, admin token): root-only.
    writeFileSync(file, `# Generated by the QNWIS lab.\n${body}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }

  private writeRedisUnit(host: Host, primaryOf: Host | undefined): void {
    const dir = path.join(this.hostDir(host.name), 'redis');
    mkdirSync(dir, { recursive: true });
    mkdirSync(path.join(this.hostDir(host.name), 'log/redis'), { recursive: true });
    const pidFile = this.runFile(host.name, 'redis.pid');
    mkdirSync(path.dirname(pidFile), { recursive: true });
    const args = [
      '/usr/bin/redis-server',
      '--daemonize yes',
      `--bind ${host.address}`,
      `--port ${this.inventory.cache.port}`,
      "--save ''",
      '--appendonly no',
      '--protected-mode no',
      `--pidfile ${pidFile}`,
      `--logfile ${path.join(this.hostDir(host.name), 'log/redis/redis-server.log')}`,
      `--dir ${dir}`,
      // Without it a replica's first sync waits 5 s (LAB-NOTES).
      '--repl-diskless-sync-delay 0',
      ...(primaryOf ? [`--replicaof ${primaryOf.address} ${this.inventory.cache.port}`] : []),
    ];
    this.writeUnit(host, 'redis', {
      DESCRIPTION: 'Advanced key-value store (redis-server)',
      PIDFILE: pidFile,
      START: args.join(' '),
      JOURNAL: path.join(this.hostDir(host.name), 'log/redis/redis-server.log'),
    });
  }

  /** Writes every host's units; returns the app hosts whose /etc/qnwis/.env changed. */
  private writeUnits(creds: LabCredentials): Set<string> {
    const repointed = new Set<string>();
    const primary = this.host('db-primary');
    const [cache] = hostsWithRole(this.inventory, 'redis');
    for (const host of this.inventory.hosts.values()) {
      const hostDir = this.hostDir(host.name);
      if (host.roles.includes('app')) {
        const journal = this.runFile(host.name, 'qnwis.journal');
        const env = {
          ...this.hostEnv(host),
          QNWIS_HOST_NAME: host.name,
          QNWIS_LISTEN: `${host.address}:${APP_PORT}`,
          QNWIS_REDIS_URL: `redis://${cache?.address ?? '127.0.0.1'}:${this.inventory.cache.port}/${this.inventory.cache.db}`,
          QNWIS_LOG_DIR: path.join(hostDir, 'log/qnwis'),
          QNWIS_ADMIN_TOKEN: creds.adminToken,
        };
        if (this.writeAppSettings(host, creds, primary)) repointed.add(host.name);
        // The database settings come from /etc/qnwis/.env, read at every start (the machine's
        // path of it: the shim may run outside the host's mount namespace).
        const dbUrl =
          'postgres://$DATABASE_USER:$DATABASE_PASSWORD@$DATABASE_HOST:$DATABASE_PORT/$DATABASE_NAME';
        this.writeUnit(host, 'qnwis', {
          DESCRIPTION: 'QNWIS API (uvicorn)',
          PIDFILE: this.runFile(host.name, 'qnwis.pid'),
          JOURNAL: journal,
          START: [
            `cd ${shellQuote(REPO_ROOT)} &&`,
            `. ${shellQuote(this.appSettingsPath(host.name))} &&`,
            `${shellQuote(path.join(REPO_ROOT, 'lab/bin/daemonize'))} ${shellQuote(this.runFile(host.name, 'qnwis.pid'))} ${shellQuote(journal)} --`,
            'env',
            ...Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`)),
            `"QNWIS_DB_URL=${dbUrl}"`,
            '"QNWIS_DB_POOL_SIZE=$DATABASE_POOL_SIZE"',
            process.execPath,
            '--import tsx',
            'lab/daemons/qnwis-app.ts',
          ].join(' '),
        });
      }
      if (host.roles.includes('db-primary') || host.roles.includes('db-replica')) {
        const dataDir = this.pgDataDir(host.name);
        const pgCtl = path.join(PG_BIN, 'pg_ctl');
        this.writeUnit(host, 'postgresql', {
          DESCRIPTION: 'PostgreSQL Cluster 15-main',
          PIDFILE: path.join(dataDir, 'postmaster.pid'),
          JOURNAL: this.pgLogFile(host.name),
          START: `runuser -u postgres -- ${pgCtl} -D ${shellQuote(dataDir)} -l ${shellQuote(this.pgLogFile(host.name))} -w -t 30 start >/dev/null`,
          STOP: `runuser -u postgres -- ${pgCtl} -D ${shellQuote(dataDir)} -m fast -w stop >/dev/null`,
          RELOAD: `runuser -u postgres -- ${pgCtl} -D ${shellQuote(dataDir)} reload >/dev/null`,
        });
      }
      if (host.roles.includes('lb')) {
        const prefix = path.join(hostDir, 'nginx');
        const tlsListen = this.lbTlsListen();
        const conf = writeNginxConfig({
          prefix,
          logDir: path.join(hostDir, 'log'),
          listen: this.lbListen,
          upstreams: this.appHosts(),
          appPort: APP_PORT,
          ...(tlsListen
            ? {
                tls: {
                  listen: tlsListen,
                  serverName: LAB_TLS_NAME,
                  certificate: this.tlsLivePath('fullchain.pem'),
                  certificateKey: this.tlsLivePath('privkey.pem'),
                },
              }
            : {}),
        });
        this.writeUnit(host, 'nginx', {
          DESCRIPTION: 'A high performance web server and a reverse proxy server',
          PIDFILE: path.join(prefix, 'nginx.pid'),
          JOURNAL: path.join(hostDir, 'log/nginx/error.log'),
          START: `/usr/sbin/nginx -c ${shellQuote(conf)} -p ${shellQuote(prefix)}`,
          STOP: `/usr/sbin/nginx -c ${shellQuote(conf)} -p ${shellQuote(prefix)} -s quit`,
          RELOAD: `/usr/sbin/nginx -t -q -c ${shellQuote(conf)} -p ${shellQuote(prefix)} && kill -HUP "$(cat ${shellQuote(path.join(prefix, 'nginx.pid'))})"`,
        });
      }
    }
    return repointed;
  }

  /** Waits (polling every 10 s, at most 30 min) while someone holds `<dir>/EXCLUSIVE`. */
  private async waitWhileExclusive(): Promise<void> {
    const file = path.join(this.dir, 'EXCLUSIVE');
    const deadline = Date.now() + 30 * 60_000;
    let told = false;
    while (existsSync(file)) {
      const holder = (() => {
        try {
          return readFileSync(file, 'utf8').trim().slice(0, 200);
        } catch {
          return '';
        }
      })();
      if (Date.now() > deadline) throw new Error(`${file} is still held (${holder}): not touching the lab`);
      if (!told) this.log(`${file} is held (${holder}): waiting before bringing the lab up`);
      told = true;
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }

  async systemctl(host: Host, verb: string, unit: string): Promise<string> {
    try {
      const { stdout } = await this.hostExec(host, ['systemctl', verb, unit]);
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${host.name}: systemctl ${verb} ${unit} failed: ${(e.stderr ?? e.message).trim()}`);
    }
  }

  private agentFiles() {
    const dir = path.join(this.dir, 'agent');
    return { pidFile: path.join(dir, 'agent.pid'), logFile: path.join(dir, 'agent.log') };
  }

  private async upAgent(creds: LabCredentials): Promise<void> {
    const files = this.agentFiles();
    if (!isAlive(readPidFile(files.pidFile))) {
      spawnDetached(process.execPath, ['--import', 'tsx', 'lab/daemons/agent.ts'], {
        ...files,
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          LAB_INVENTORY: this.inventory.source,
          LAB_SINK_LISTEN: this.sinkListen,
          LAB_NODE_EXPORTER_PORT: String(NODE_EXPORTER_PORT),
          LAB_WEBHOOK_TOKEN: creds.webhookToken,
        },
      });
    }
    await waitFor('the lab agent (webhook sink)', () => httpOk(`http://${this.sinkListen}/health`), 20_000);
  }

  daemonFiles(name: string) {
    const dir = path.join(this.dir, name);
    return { pidFile: path.join(dir, `${name}.pid`), logFile: path.join(dir, `${name}.log`) };
  }

  standInUrls() {
    return {
      slackUrl: `http://${this.slackListen}`,
      pagerdutyUrl: `http://${this.pagerdutyListen}`,
      labId: createHash('sha256').update(this.dir).digest('hex').slice(0, 8),
    };
  }

  /** The local Slack and PagerDuty stand-ins, wired to the bot with the lab's secrets. */
  private async upStandIns(creds: LabCredentials): Promise<void> {
    const base = { PATH: process.env.PATH, LOG_LEVEL: 'info' };
    const slack = this.daemonFiles('slack-local');
    if (!isAlive(readPidFile(slack.pidFile))) {
      spawnDetached(process.execPath, ['--import', 'tsx', 'src/dev/slack/main.ts'], {
        ...slack,
        cwd: REPO_ROOT,
        env: {
          ...base,
          SLACK_LOCAL_LISTEN: this.slackListen,
          SLACK_LOCAL_BOT_URL: `${this.botUrl}/slack/events`,
          SLACK_SIGNING_SECRET: creds.slackSigningSecret,
        },
      });
    }
    const pd = this.daemonFiles('pagerduty-local');
    if (!isAlive(readPidFile(pd.pidFile))) {
      spawnDetached(process.execPath, ['--import', 'tsx', 'src/dev/pagerduty/main.ts'], {
        ...pd,
        cwd: REPO_ROOT,
        env: {
          ...base,
          PAGERDUTY_LOCAL_LISTEN: this.pagerdutyListen,
          PAGERDUTY_LOCAL_STATE_DIR: path.join(this.dir, 'pagerduty-tls'),
          PAGERDUTY_LOCAL_WEBHOOK_URL: `${this.botUrl}/webhooks/pagerduty`,
          PAGERDUTY_LOCAL_WEBHOOK_SECRET: creds.pagerdutyWebhookSecret,
        },
      });
    }
    await Promise.all([
      waitFor('the local Slack stand-in', () => httpOk(`http://${this.slackListen}/_local/health`), 30_000),
      waitFor(
        'the local PagerDuty stand-in',
        () => httpOk(`http://${this.pagerdutyListen}/_local/health`),
        30_000,
      ),
    ]);
  }

  /** The bot itself, against this lab (its environment is .lab/lab.env). */
  /** Starts the lab's bot if it is not running (and nothing else: e.g. after a test killed it). */
  async startBot(extraEnv: Readonly<Record<string, string>> = {}): Promise<void> {
    await this.upBot(loadOrCreateCredentials(this.dir), extraEnv);
  }

  /** `extraEnv`: settings over the lab's (a test that needs, say, a clock in seconds). */
  private async upBot(creds: LabCredentials, extraEnv: Readonly<Record<string, string>> = {}): Promise<void> {
    const files = this.daemonFiles('bot');
    if (!isAlive(readPidFile(files.pidFile))) {
      spawnDetached(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        ...files,
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
          PORT: new URL(this.botUrl).port || '3000',
          ...botEnvironment(creds, this.inventory.source, this.standInUrls()),
          ...extraEnv,
        },
      });
    }
    await waitFor('the bot', () => httpOk(`${this.botUrl}/health`), 30_000).catch((err: Error) => {
      throw new Error(`${err.message} (see ${files.logFile})`);
    });
  }

  private async upPrometheus(): Promise<void> {
    const dir = path.join(this.dir, 'prometheus');
    const running = isAlive(readPidFile(path.join(dir, 'prometheus.pid')));
    await (running ? reloadPrometheus : startPrometheus)({
      dir,
      listen: this.prometheusListen,
      rulesFile: path.join(REPO_ROOT, 'lab/prometheus/rules.yml'),
      alertmanager: this.alertmanagerListen,
      appHosts: this.appHosts(),
      appPort: APP_PORT,
      nodeExporterPort: NODE_EXPORTER_PORT,
    });
  }

  private async upAlertmanager(creds: LabCredentials): Promise<void> {
    const dir = path.join(this.dir, 'alertmanager');
    const running = isAlive(readPidFile(path.join(dir, 'alertmanager.pid')));
    await (running ? reloadAlertmanager : startAlertmanager)({
      dir,
      listen: this.alertmanagerListen,
      botWebhookUrl: `${this.botUrl}/webhooks/alertmanager`,
      sinkWebhookUrl: `http://${this.sinkListen}/webhooks/alertmanager`,
      webhookToken: creds.webhookToken,
    });
  }

  private async waitHealthy(): Promise<void> {
    await waitFor(
      'every lab component to be healthy',
      async () => (await this.status()).components.every((c) => c.healthy),
      45_000,
    ).catch(async (err: Error) => {
      const sick = (await this.status()).components
        .filter((c) => !c.healthy)
        .map((c) => `${c.name} (${c.detail ?? 'down'})`);
      throw new Error(`${err.message}: not healthy: ${sick.join(', ')}`);
    });
    // Targets are applied a few seconds after Prometheus starts; alerts are meaningless before.
    await waitFor('Prometheus to scrape every app host', () => this.prometheusTargetsUp(), 30_000);
  }

  async prometheusTargetsUp(): Promise<boolean> {
    try {
      const res = await fetch(`http://${this.prometheusListen}/api/v1/targets?state=active`, {
        signal: AbortSignal.timeout(2000),
      });
      const body = (await res.json()) as {
        data: { activeTargets: { health: string; labels: { job: string } }[] };
      };
      const targets = body.data.activeTargets.filter(
        (t) => t.labels.job === 'qnwis' || t.labels.job === 'node',
      );
      return targets.length === this.appHosts().length * 2 && targets.every((t) => t.health === 'up');
    } catch {
      return false;
    }
  }

  private writeBotEnv(creds: LabCredentials): void {
    const env = botEnvironment(creds, this.inventory.source, this.standInUrls());
    const text = Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    writeFileSync(
      path.join(this.dir, 'lab.env'),
      `# The bot's environment for this lab (generated).\n${text}\n`,
      {
        mode: 0o600,
      },
    );
  }

  // ---- down --------------------------------------------------------------------------------

  async down(): Promise<void> {
    const stopIfUnit = async (host: Host, unit: string) => {
      if (existsSync(this.unitFile(host.name, unit)))
        await this.systemctl(host, 'stop', unit).catch((e: Error) => this.log(e.message));
    };
    // The bot first (it drains its workers), then what feeds it.
    await stopPid(readPidFile(this.daemonFiles('bot').pidFile), 20_000);
    await Promise.all([
      stopPid(readPidFile(this.daemonFiles('slack-local').pidFile)),
      stopPid(readPidFile(this.daemonFiles('pagerduty-local').pidFile)),
      stopPid(readPidFile(path.join(this.dir, 'alertmanager/alertmanager.pid'))),
      stopPid(readPidFile(path.join(this.dir, 'prometheus/prometheus.pid'))),
      stopPid(readPidFile(this.agentFiles().pidFile)),
    ]);
    await stopIfUnit(this.host('lb'), 'nginx');
    await Promise.all(this.appHosts().map((h) => stopIfUnit(h, 'qnwis')));
    // Memory hogs and other fault processes the lab started on hosts.
    for (const host of this.inventory.hosts.values())
      await stopPid(readPidFile(this.runFile(host.name, 'fault.pid')));
    const redis = hostsWithRole(this.inventory, 'redis');
    await Promise.all(redis.slice(1).map((h) => stopIfUnit(h, 'redis')));
    if (redis[0]) await stopIfUnit(redis[0], 'redis');
    for (const role of ['db-replica', 'db-primary'] as const) {
      for (const h of hostsWithRole(this.inventory, role)) {
        if (existsSync(this.pgDataDir(h.name)))
          await stopCluster({ dataDir: this.pgDataDir(h.name), mode: 'fast' });
      }
    }
    await Promise.all([...this.inventory.hosts.values()].map((h) => stopSshHost(this.hostDir(h.name))));
  }

  /** Removes the lab directory entirely (data, keys, credentials). The lab must be down. */
  async destroy(): Promise<void> {
    await this.down();
    // The bot's own state for this lab (database and queue keys on the machine's servers).
    const { labId } = this.standInUrls();
    await execFileAsync('/usr/bin/psql', [
      '-X',
      '-q',
      '-h',
      '127.0.0.1',
      '-U',
      'postgres',
      '-d',
      'postgres',
      '-c',
      `DROP DATABASE IF EXISTS qnwis_chatops_lab_${labId} WITH (FORCE)`,
    ]).catch((err: Error) => this.log(`could not drop the lab bot database: ${err.message}`));
    await execFileAsync('/usr/bin/redis-cli', [
      '-h',
      '127.0.0.1',
      '--scan',
      '--pattern',
      `{qnwislab${labId}}*`,
    ])
      .then(async ({ stdout }) => {
        const keys = stdout.split('\n').filter(Boolean);
        for (let i = 0; i < keys.length; i += 500) {
          await execFileAsync('/usr/bin/redis-cli', ['-h', '127.0.0.1', 'DEL', ...keys.slice(i, i + 500)]);
        }
      })
      .catch((err: Error) => this.log(`could not clear the lab bot queues: ${err.message}`));
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- status ------------------------------------------------------------------------------

  async status(): Promise<LabStatus> {
    const components: ComponentStatus[] = [];
    const checks: Promise<void>[] = [];
    const add = (c: Omit<ComponentStatus, 'healthy'>, healthy: () => Promise<boolean | string>) => {
      const entry: ComponentStatus = { ...c, healthy: false };
      components.push(entry);
      checks.push(
        (async () => {
          if (!isAlive(c.pid ?? undefined)) {
            entry.pid = null;
            entry.detail = 'not running';
            return;
          }
          const result = await healthy().catch((e: Error) => e.message);
          entry.healthy = result === true;
          if (typeof result === 'string') entry.detail = result;
          else if (!result) entry.detail = 'running but not answering';
        })(),
      );
    };
    const creds = existsSync(path.join(this.dir, 'credentials.json'))
      ? loadOrCreateCredentials(this.dir)
      : null;

    for (const host of this.inventory.hosts.values()) {
      const ssh = await sshHostStatus(this.hostDir(host.name));
      add(
        {
          name: `sshd:${host.name}`,
          kind: 'sshd',
          host: host.name,
          address: `${host.address}:${host.ssh.port}`,
          pid: ssh.pid ?? null,
        },
        () => tcpReachable(host.address, host.ssh.port),
      );
    }
    for (const host of this.appHosts()) {
      add(
        {
          name: `qnwis:${host.name}`,
          kind: 'qnwis',
          host: host.name,
          address: `${host.address}:${APP_PORT}`,
          pid: readPidFile(this.runFile(host.name, 'qnwis.pid')) ?? null,
        },
        () => httpOk(`http://${host.address}:${APP_PORT}/health`),
      );
    }
    for (const host of [
      ...hostsWithRole(this.inventory, 'db-primary'),
      ...hostsWithRole(this.inventory, 'db-replica'),
    ]) {
      const st = existsSync(this.pgDataDir(host.name)) ? clusterStatus(this.pgDataDir(host.name)) : undefined;
      const isReplica = host.roles.includes('db-replica');
      add(
        {
          name: `postgres:${host.name}`,
          kind: 'postgres',
          host: host.name,
          address: `${host.address}:${this.inventory.database.port}`,
          pid: st?.pid ?? null,
        },
        async () => {
          const ok = await this.pgIsReady(host);
          if (!ok) return 'not accepting connections';
          if (!isReplica || !creds) return true;
          const streaming = await this.pgReplicaStreaming(host, creds);
          return streaming || 'replica is not streaming';
        },
      );
    }
    for (const host of hostsWithRole(this.inventory, 'redis')) {
      add(
        {
          name: `redis:${host.name}`,
          kind: 'redis',
          host: host.name,
          address: `${host.address}:${this.inventory.cache.port}`,
          pid: readPidFile(this.runFile(host.name, 'redis.pid')) ?? null,
        },
        () => this.redisPing(host),
      );
    }
    for (const host of hostsWithRole(this.inventory, 'lb')) {
      add(
        {
          name: `nginx:${host.name}`,
          kind: 'nginx',
          host: host.name,
          address: this.lbListen,
          pid: readPidFile(path.join(this.hostDir(host.name), 'nginx/nginx.pid')) ?? null,
        },
        () => httpOk(`http://${this.lbListen}/health`),
      );
    }
    add(
      {
        name: 'prometheus',
        kind: 'prometheus',
        address: this.prometheusListen,
        pid: readPidFile(path.join(this.dir, 'prometheus/prometheus.pid')) ?? null,
      },
      () => httpOk(`http://${this.prometheusListen}/-/ready`),
    );
    add(
      {
        name: 'alertmanager',
        kind: 'alertmanager',
        address: this.alertmanagerListen,
        pid: readPidFile(path.join(this.dir, 'alertmanager/alertmanager.pid')) ?? null,
      },
      () => httpOk(`http://${this.alertmanagerListen}/-/ready`),
    );
    add(
      {
        name: 'agent',
        kind: 'agent',
        address: this.sinkListen,
        pid: readPidFile(this.agentFiles().pidFile) ?? null,
      },
      () => httpOk(`http://${this.sinkListen}/health`),
    );
    add(
      {
        name: 'slack-local',
        kind: 'slack-local',
        address: this.slackListen,
        pid: readPidFile(this.daemonFiles('slack-local').pidFile) ?? null,
      },
      () => httpOk(`http://${this.slackListen}/_local/health`),
    );
    add(
      {
        name: 'pagerduty-local',
        kind: 'pagerduty-local',
        address: this.pagerdutyListen,
        pid: readPidFile(this.daemonFiles('pagerduty-local').pidFile) ?? null,
      },
      () => httpOk(`http://${this.pagerdutyListen}/_local/health`),
    );
    if (this.withBot) {
      add(
        {
          name: 'bot',
          kind: 'bot',
          address: new URL(this.botUrl).host,
          pid: readPidFile(this.daemonFiles('bot').pidFile) ?? null,
        },
        () => httpOk(`${this.botUrl}/health`),
      );
    }
    await Promise.all(checks);
    return {
      dir: this.dir,
      inventory: this.inventory.source,
      up: components.every((c) => c.healthy),
      components,
      credentials: creds,
      botEnv: creds ? botEnvironment(creds, this.inventory.source, this.standInUrls()) : null,
      urls: {
        prometheus: `http://${this.prometheusListen}`,
        alertmanager: `http://${this.alertmanagerListen}`,
        loadBalancer: `http://${this.lbListen}`,
        sink: `http://${this.sinkListen}`,
        slack: `http://${this.slackListen}`,
        pagerduty: `http://${this.pagerdutyListen}`,
        bot: this.botUrl,
      },
    };
  }

  private async pgIsReady(host: Host): Promise<boolean> {
    try {
      await execFileAsync(
        path.join(PG_BIN, 'pg_isready'),
        ['-q', '-h', host.address, '-p', String(this.inventory.database.port), '-t', '1'],
        { timeout: 3000 },
      );
      return true;
    } catch {
      return false;
    }
  }

  async psql(host: Host, creds: LabCredentials, sql: string, database = 'postgres'): Promise<string> {
    const { stdout } = await execFileAsync(
      '/usr/bin/psql',
      [
        '-X',
        '-A',
        '-t',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        host.address,
        '-p',
        String(this.inventory.database.port),
        '-U',
        'postgres',
        '-d',
        database,
        '-c',
        sql,
      ],
      {
        env: { ...process.env, PGPASSWORD: creds.postgres.superuser, PGCONNECT_TIMEOUT: '3' },
        timeout: 10_000,
      },
    );
    return stdout.trim();
  }

  private async pgReplicaStreaming(replica: Host, creds: LabCredentials): Promise<boolean> {
    try {
      return (await this.psql(replica, creds, 'SELECT status FROM pg_stat_wal_receiver')) === 'streaming';
    } catch {
      return false;
    }
  }

  /** Follows the lab's logs until the returned function is called. */
  follow(write: (line: string) => void): () => void {
    const files = [
      ...this.appHosts().map((h) => path.join(this.hostDir(h.name), 'log/qnwis/error.log')),
      ...this.appHosts().map((h) => this.runFile(h.name, 'qnwis.journal')),
      path.join(this.dir, 'alertmanager/alertmanager.log'),
      this.daemonFiles('bot').logFile,
    ].filter((f) => existsSync(f));
    const tail = spawn('tail', ['-n', '0', '-F', ...files], { stdio: ['ignore', 'pipe', 'ignore'] });
    tail.stdout.setEncoding('utf8');
    tail.stdout.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line) write(line);
    });
    return () => tail.kill();
  }
}

/** SHA-256 fingerprint of the certificate served on `listen` ("address:port"), undefined if none. */
function servedFingerprint(listen: string): Promise<string | undefined> {
  const sep = listen.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: listen.slice(0, sep),
      port: Number(listen.slice(sep + 1)),
      rejectUnauthorized: false,
    });
    const done = (value: string | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(2_000, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('secureConnect', () => done(socket.getPeerCertificate().fingerprint256));
  });
}

/** Single-quote for the shims' `eval` (unit files are shell). */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}
