/**
 * Playbooks: for each of the runbook's alerts, which diagnostics to run on which targets, and
 * which runbook fixes to propose given what they found. Pure: plain data in, plain data out.
 *
 *   HighErrorRate    → Scenario 1: error logs, /health/detailed, DB connections; restart if the pool is exhausted
 *   ServiceDown      → Checking System Status: is-active + journal, /health, error log; restart the host
 *   DatabaseDown     → Database Operations / DR: replication state, connections, app health; fail over
 *   QueryLatencyHigh → Scenario 2: active queries > 5 s, pg_stat_statements, seq scans; kill the query
 *   LowCacheHitRate  → Redis Operations: memory, hit rate, evictions; warm the cache
 *   HighMemoryUsage  → Scenario 3: free, top RSS, uvicorn workers; restart the worker
 *   anything else    → health and error logs of the hosts its labels name
 */
import { hostsWithRole, type Inventory } from '../inventory.js';
import type { DiagnosticResult, DiagnosticStatus } from './diagnostics/types.js';

export interface DiagnosticRequest {
  readonly diagnostic: string;
  readonly target: string;
}

export interface ProposedAction {
  /** The runbook command (catalog name of the "Act with approval" issue). */
  readonly command: 'restart' | 'rolling-restart' | 'kill-query' | 'warm-cache' | 'failover' | 'flush-cache';
  /** Host name, backend pid, … */
  readonly target: string;
  /** Button text, ≤ 75 characters. */
  readonly label: string;
  /** What it would do, in the runbook's words. */
  readonly description: string;
  readonly style?: 'primary' | 'danger';
}

export interface PlaybookInput {
  readonly alertname: string;
  /** Hosts named by the incident's alerts (label `host`), firing first. */
  readonly hosts: readonly string[];
}

export interface Playbook {
  readonly name: string;
  /** The runbook section it follows. */
  readonly runbook: string;
  readonly diagnostics: readonly DiagnosticRequest[];
}

const FLEET = 'fleet';

function appHosts(inv: Inventory, named: readonly string[]): string[] {
  const apps = hostsWithRole(inv, 'app').map((h) => h.name);
  const mine = named.filter((h) => apps.includes(h));
  return mine.length > 0 ? mine : apps;
}

function perHost(diagnostic: string, hosts: readonly string[]): DiagnosticRequest[] {
  return hosts.map((target) => ({ diagnostic, target }));
}

function primary(inv: Inventory): string {
  return hostsWithRole(inv, 'db-primary')[0]?.name ?? FLEET;
}

export function playbookFor(input: PlaybookInput, inv: Inventory): Playbook {
  const hosts = appHosts(inv, input.hosts);
  const allApps = hostsWithRole(inv, 'app').map((h) => h.name);
  const db = primary(inv);
  const cache = hostsWithRole(inv, 'redis')[0]?.name ?? FLEET;
  switch (input.alertname) {
    case 'HighErrorRate':
      return {
        name: 'high-error-rate',
        runbook: 'Scenario 1: High Error Rate',
        diagnostics: [
          ...perHost('error-log', hosts),
          ...perHost('health', hosts),
          { diagnostic: 'pg-connections', target: db },
        ],
      };
    case 'ServiceDown':
      return {
        name: 'service-down',
        runbook: 'Checking System Status',
        diagnostics: [
          ...perHost('service-status', hosts),
          ...perHost('health', hosts),
          ...perHost('error-log', hosts),
        ],
      };
    case 'DatabaseDown':
      return {
        name: 'database-down',
        runbook: 'Database Operations; Disaster Recovery',
        diagnostics: [
          { diagnostic: 'pg-replication', target: db },
          { diagnostic: 'pg-connections', target: db },
          ...perHost('health', allApps),
        ],
      };
    case 'QueryLatencyHigh':
      return {
        name: 'query-latency-high',
        runbook: 'Scenario 2: Slow Query Performance',
        diagnostics: [
          { diagnostic: 'pg-active-queries', target: db },
          { diagnostic: 'pg-statements', target: db },
          { diagnostic: 'pg-seqscans', target: db },
          { diagnostic: 'pg-connections', target: db },
        ],
      };
    case 'LowCacheHitRate':
      return {
        name: 'low-cache-hit-rate',
        runbook: 'Redis Operations; Cache Optimization',
        diagnostics: [{ diagnostic: 'redis-stats', target: cache }, ...perHost('health', hosts)],
      };
    case 'HighMemoryUsage':
      return {
        name: 'high-memory-usage',
        runbook: 'Scenario 3: Memory Leak',
        diagnostics: perHost('memory', hosts),
      };
    default: {
      const named = input.hosts.filter((h) => inv.hosts.has(h));
      const apps = named.filter((h) => allApps.includes(h));
      return {
        name: 'generic',
        runbook: 'Incident Response Workflow',
        diagnostics:
          apps.length > 0
            ? [...perHost('health', apps), ...perHost('error-log', apps)]
            : [...perHost('health', allApps)],
      };
    }
  }
}

const STATUS_RANK: Readonly<Record<DiagnosticStatus, number>> = {
  error: 0,
  unreachable: 1,
  timeout: 2,
  warn: 3,
  ok: 4,
};

/** One line for the incident message: what is wrong, worst first, e.g. "app-02: 412 ERROR lines …". */
export function verdictOf(results: readonly DiagnosticResult[], maxLength = 280): string {
  const bad = [...results]
    .filter((r) => r.status !== 'ok')
    .sort((a, b) => STATUS_RANK[a.status] - STATUS_RANK[b.status]);
  if (bad.length === 0) {
    const targets = [...new Set(results.map((r) => r.target))].join(', ');
    return results.length === 0 ? 'No diagnostics ran' : `Diagnostics found nothing wrong (${targets})`;
  }
  const parts: string[] = [];
  for (const r of bad) {
    const part = r.summary.startsWith(r.target) ? r.summary : `${r.target}: ${r.summary}`;
    if ([...parts, part].join('; ').length > maxLength) break;
    parts.push(part);
  }
  if (parts.length === 0) parts.push(`${bad[0]?.target}: ${bad[0]?.summary}`.slice(0, maxLength - 1));
  const more = bad.length - parts.length;
  return more > 0 ? `${parts.join('; ')} (+${more} more)` : parts.join('; ');
}

interface ActiveQuery {
  pid: number;
  ageMs: number;
  query: string;
}

/** The runbook fixes worth proposing, given the alert and what its diagnostics found. */
export function proposeActions(
  input: PlaybookInput,
  results: readonly DiagnosticResult[],
  inv: Inventory,
): ProposedAction[] {
  const hosts = appHosts(inv, input.hosts);
  const restart = (host: string): ProposedAction => ({
    command: 'restart',
    target: host,
    label: `Restart qnwis on ${host}`,
    description: `sudo systemctl restart qnwis on ${host}, then /health must pass`,
    style: 'primary',
  });
  switch (input.alertname) {
    case 'HighErrorRate': {
      const failing = results
        .filter((r) => r.diagnostic === 'error-log' && r.status !== 'ok')
        .map((r) => r.target);
      return (failing.length > 0 ? failing : hosts).slice(0, 3).map(restart);
    }
    case 'ServiceDown':
    case 'HighMemoryUsage':
      return hosts.slice(0, 3).map(restart);
    case 'DatabaseDown':
      return [
        {
          command: 'failover',
          target: hostsWithRole(inv, 'db-replica')[0]?.name ?? 'db-replica',
          label: 'Fail over to the replica',
          description:
            'Promote the replica, repoint every app host, restart them one by one (Disaster Recovery)',
          style: 'danger',
        },
      ];
    case 'QueryLatencyHigh': {
      const queries = results
        .filter((r) => r.diagnostic === 'pg-active-queries')
        .flatMap(
          (r) => ((r.data as { queries?: ActiveQuery[] } | undefined)?.queries ?? []) as ActiveQuery[],
        );
      return [...queries]
        .sort((a, b) => b.ageMs - a.ageMs)
        .slice(0, 3)
        .map((q) => ({
          command: 'kill-query' as const,
          target: String(q.pid),
          label: `Kill query ${q.pid}`.slice(0, 75),
          description: `pg_terminate_backend(${q.pid}) — running ${Math.round(q.ageMs / 1000)} s: ${q.query.slice(0, 120)}`,
          style: 'danger' as const,
        }));
    }
    case 'LowCacheHitRate':
      return [
        {
          command: 'warm-cache',
          target: hosts[0] ?? 'app-01',
          label: 'Warm the cache',
          description: `python scripts/warm_cache.py on ${hosts[0] ?? 'an app host'}`,
          style: 'primary',
        },
      ];
    default:
      return [];
  }
}
