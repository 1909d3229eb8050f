/**
 * Faults make each of the runbook's alerts fire for real, by breaking the fleet the way production
 * breaks; `heal` undoes them. Each fault names the alert it provokes.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { getHost, type Host, hostsWithRole } from '../src/inventory.js';
import { loadOrCreateCredentials } from './credentials.js';
import { APP_PORT, type Lab } from './lab.js';
import { isAlive, readPidFile, spawnDetached, stopPid, waitFor } from './process.js';

export const FAULTS = {
  'error-rate': {
    alert: 'HighErrorRate',
    defaultHost: 'app-01',
    what: 'half of the queries on the host fail',
  },
  down: { alert: 'ServiceDown', defaultHost: 'app-02', what: 'systemctl stop qnwis on the host' },
  'db-down': { alert: 'DatabaseDown', defaultHost: undefined, what: 'the primary PostgreSQL stops' },
  'slow-query': {
    alert: 'QueryLatencyHigh',
    defaultHost: undefined,
    what: 'a long-running report query holds a lock on qtr_employment_stats',
  },
  'cache-miss': {
    alert: 'LowCacheHitRate',
    defaultHost: undefined,
    what: 'the cache Redis runs out of memory (maxmemory 1 byte) and evicts every key',
  },
  memory: {
    alert: 'HighMemoryUsage',
    defaultHost: 'app-03',
    what: 'the app on the host leaks memory fast (up to 1 GiB); heal restarts it, as the runbook does',
  },
} as const;

export type FaultName = keyof typeof FAULTS;

/**
 * What `heal` also undoes that is no fault (no alert asks for it): the bot's own `failover`, which
 * leaves db-replica promoted and the app hosts pointed at it.
 */
export const RESTORABLE = {
  failover:
    'db-primary the primary again, db-replica rebuilt as its standby, app hosts pointed back at db-primary',
} as const;

export type RestorableName = keyof typeof RESTORABLE;

export function isRestorableName(name: string): name is RestorableName {
  return Object.hasOwn(RESTORABLE, name);
}

export function isFaultName(name: string): name is FaultName {
  return Object.hasOwn(FAULTS, name);
}

/** The role the slow report query runs as: not a superuser, so the bot's ops role may terminate it. */
export const REPORTS_ROLE = 'qnwis_reports';
const SLOW_QUERY =
  'BEGIN; LOCK TABLE qtr_employment_stats IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3600) /* quarterly sector report */; COMMIT;';
/** Fast enough that HighMemoryUsage fires in seconds; the app caps the leak at 1 GiB. */
const MEMORY_LEAK_MB_PER_MIN = 12_000;

interface ActiveFaults {
  [name: string]: { host?: string; since: string };
}

export class Faults {
  private readonly lab: Lab;
  constructor(lab: Lab) {
    this.lab = lab;
  }

  private file(): string {
    return path.join(this.lab.dir, 'faults.json');
  }
  active(): ActiveFaults {
    return existsSync(this.file()) ? (JSON.parse(readFileSync(this.file(), 'utf8')) as ActiveFaults) : {};
  }
  private record(name: FaultName, host: string | undefined, on: boolean): void {
    const active = this.active();
    if (on) active[name] = { ...(host ? { host } : {}), since: new Date().toISOString() };
    else delete active[name];
    writeFileSync(this.file(), `${JSON.stringify(active, null, 2)}\n`);
  }

  private creds() {
    return loadOrCreateCredentials(this.lab.dir);
  }

  private appHost(name: string | undefined, fallback: string): Host {
    return getHost(this.lab.inventory, name ?? fallback, 'app');
  }

  private async appFaults(host: Host, body: Record<string, number>): Promise<void> {
    const res = await fetch(`http://${host.address}:${APP_PORT}/lab/faults`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.creds().adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok)
      throw new Error(`${host.name}: POST /lab/faults answered ${res.status}: ${await res.text()}`);
  }

  private async appFaultState(
    host: Host,
  ): Promise<{ leaked_mb: number; memory_leak_mb_per_min: number } | null> {
    try {
      const res = await fetch(`http://${host.address}:${APP_PORT}/lab/faults`, {
        headers: { authorization: `Bearer ${this.creds().adminToken}` },
        signal: AbortSignal.timeout(3000),
      });
      return res.ok ? ((await res.json()) as { leaked_mb: number; memory_leak_mb_per_min: number }) : null;
    } catch {
      return null;
    }
  }

  private primary(): Host {
    const [h] = hostsWithRole(this.lab.inventory, 'db-primary');
    if (!h) throw new Error('no db-primary in the lab inventory');
    return h;
  }
  private cache(): Host {
    const [h] = hostsWithRole(this.lab.inventory, 'redis');
    if (!h) throw new Error('no redis host in the lab inventory');
    return h;
  }
  private slowQueryPidFile(): string {
    return path.join(this.lab.hostDir(this.primary().name), 'run/slow-query.pid');
  }

  /** Starts a fault; returns a sentence describing what was broken. */
  async inject(name: FaultName, hostName?: string): Promise<string> {
    const spec = FAULTS[name];
    switch (name) {
      case 'error-rate': {
        const host = this.appHost(hostName, spec.defaultHost ?? 'app-01');
        await this.appFaults(host, { error_rate: 0.5 });
        this.record(name, host.name, true);
        return `${host.name}: half of the queries now fail (expect ${spec.alert})`;
      }
      case 'down': {
        const host = this.appHost(hostName, spec.defaultHost ?? 'app-02');
        await this.lab.systemctl(host, 'stop', 'qnwis');
        this.record(name, host.name, true);
        return `${host.name}: qnwis stopped (expect ${spec.alert})`;
      }
      case 'db-down': {
        const host = this.primary();
        await this.lab.systemctl(host, 'stop', 'postgresql');
        this.record(name, host.name, true);
        return `${host.name}: PostgreSQL stopped (expect ${spec.alert})`;
      }
      case 'slow-query': {
        const host = this.primary();
        const pidFile = this.slowQueryPidFile();
        if (!isAlive(readPidFile(pidFile))) {
          const db = this.lab.inventory.database;
          // A primary that was just restarted (db-down healed) must accept the report's login.
          await waitFor(
            'the primary to accept connections',
            () =>
              this.lab.psql(host, this.creds(), 'SELECT 1', db.name).then(
                () => true,
                () => false,
              ),
            15_000,
          );
          spawnDetached(
            '/usr/bin/psql',
            [
              '-X',
              '-q',
              '-h',
              host.address,
              '-p',
              String(db.port),
              '-U',
              REPORTS_ROLE,
              '-d',
              db.name,
              '-c',
              SLOW_QUERY,
            ],
            {
              pidFile,
              logFile: path.join(this.lab.hostDir(host.name), 'run/slow-query.log'),
              env: {
                PATH: process.env.PATH,
                PGPASSWORD: this.creds().postgres.app,
                PGAPPNAME: 'quarterly-report',
              },
            },
          );
          await waitFor(
            'the report query to hold its lock',
            async () => {
              // The primary may still be starting (db-down just healed): that is "not yet".
              const n = await this.lab
                .psql(
                  host,
                  this.creds(),
                  `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.usename = '${REPORTS_ROLE}' AND l.mode = 'AccessExclusiveLock' AND l.granted`,
                )
                .catch(() => '0');
              return Number(n) > 0;
            },
            10_000,
          );
        }
        this.record(name, host.name, true);
        return `${host.name}: a report query holds ACCESS EXCLUSIVE on qtr_employment_stats (expect ${spec.alert})`;
      }
      case 'cache-miss': {
        const host = this.cache();
        await this.lab.redisCli(host, ['CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru']);
        await this.lab.redisCli(host, ['CONFIG', 'SET', 'maxmemory', '1']);
        this.record(name, host.name, true);
        return `${host.name}: maxmemory 1 byte, cache keys evicted (expect ${spec.alert})`;
      }
      case 'memory': {
        const host = this.appHost(hostName, spec.defaultHost ?? 'app-03');
        await this.appFaults(host, { memory_leak_mb_per_min: MEMORY_LEAK_MB_PER_MIN });
        this.record(name, host.name, true);
        return `${host.name}: qnwis leaks ${MEMORY_LEAK_MB_PER_MIN / 60} MiB/s up to 1 GiB (expect ${spec.alert})`;
      }
    }
  }

  /**
   * Undoes one fault (on every host it can affect), or all of them and then a failover (see
   * `restore`). Idempotent.
   */
  async heal(name?: FaultName): Promise<string[]> {
    const names = name ? [name] : (Object.keys(FAULTS) as FaultName[]);
    const done: string[] = [];
    for (const n of names) {
      await this.healOne(n);
      this.record(n, undefined, false);
      done.push(n);
    }
    if (!name) done.push(...(await this.restore('failover')));
    return done;
  }

  /**
   * Brings back the inventory's topology after the bot's failover (`Lab.restoreDatabases`): the
   * primary runs again, so a recorded db-down is over too. Returns what changed (nothing on an
   * intact lab).
   */
  async restore(name: RestorableName): Promise<string[]> {
    switch (name) {
      case 'failover': {
        const done = await this.lab.restoreDatabases();
        if (this.active()['db-down']) this.record('db-down', undefined, false);
        return done;
      }
    }
  }

  private async healOne(name: FaultName): Promise<void> {
    const apps = hostsWithRole(this.lab.inventory, 'app');
    switch (name) {
      case 'error-rate':
        await Promise.all(apps.map((h) => this.appFaults(h, { error_rate: 0 }).catch(() => undefined)));
        return;
      case 'down':
        await Promise.all(apps.map((h) => this.lab.systemctl(h, 'start', 'qnwis')));
        return;
      case 'db-down':
        await this.lab.systemctl(this.primary(), 'start', 'postgresql');
        return;
      case 'slow-query': {
        const host = this.primary();
        await stopPid(readPidFile(this.slowQueryPidFile()));
        rmSync(this.slowQueryPidFile(), { force: true });
        // The backend outlives its psql client until it notices; end it so the lock goes now.
        await this.lab
          .psql(
            host,
            this.creds(),
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${REPORTS_ROLE}'`,
          )
          .catch(() => undefined);
        return;
      }
      case 'cache-miss': {
        const host = this.cache();
        await this.lab.redisCli(host, ['CONFIG', 'SET', 'maxmemory', '0']);
        await this.lab.redisCli(host, ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
        return;
      }
      case 'memory':
        // Leaked memory is only given back by a restart (runbook Scenario 3: restart the worker).
        await Promise.all(
          apps.map(async (h) => {
            const state = await this.appFaultState(h);
            if (state && (state.leaked_mb > 0 || state.memory_leak_mb_per_min > 0)) {
              await this.lab.systemctl(h, 'restart', 'qnwis');
            }
          }),
        );
        return;
    }
  }
}
