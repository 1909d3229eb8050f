/**
 * Shared pieces of the diagnostics: input schemas, host resolution, the wrapper that turns any
 * adapter failure into a result (a diagnostic never rejects for a host problem), and formatting for
 * one-line summaries.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import {
  CacheError,
  CacheTimeoutError,
  CacheUnreachableError,
  DatabaseError,
  DatabaseReadOnlyError,
  DatabaseTimeoutError,
  DatabaseUnreachableError,
  HttpStatusError,
  HttpTimeoutError,
  HttpUnreachableError,
  InvalidArgumentError,
  QnwisError,
  SshAuthError,
  SshExitError,
  SshHostKeyMismatchError,
  SshTimeoutError,
  SshUnreachableError,
  UnknownHostError,
} from '../../errors.js';
import { type Host, type HostRole, hostsWithRole, type Inventory, type Service } from '../../inventory.js';
import type { DiagnosticResult, DiagnosticStatus } from './types.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** An inventory host name (the inventory's own rule); resolved against the inventory at run time. */
export const hostNameSchema = z
  .string()
  .max(63, 'must be an inventory host name')
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be an inventory host name');

/** A key of the inventory's names (service names, log kinds): short, lower-case, no path characters. */
export const inventoryKeySchema = z
  .string()
  .max(32, 'must be an inventory name')
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be an inventory name');

/** Target of a fleet-wide diagnostic. */
export const FLEET = 'fleet';

// ---------------------------------------------------------------------------------------------
// Hosts and services

/** The host named `name` (or the first host with `roles[0]` when omitted), which must have one of `roles`. */
export function resolveHost(inv: Inventory, name: string | undefined, roles: readonly HostRole[]): Host {
  if (name === undefined) {
    for (const role of roles) {
      const [first] = hostsWithRole(inv, role);
      if (first) return first;
    }
    throw new UnknownHostError(roles.join('/'), 'has no host in the inventory');
  }
  const host = inv.hosts.get(name);
  if (!host) throw new UnknownHostError(name);
  if (!roles.some((r) => host.roles.includes(r))) {
    throw new UnknownHostError(name, `is not a ${roles.join(' or ')} host (roles: ${host.roles.join(', ')})`);
  }
  return host;
}

/** The name a result should carry: the requested host, else the default host's name, else the role. Never throws. */
export function targetName(inv: Inventory, name: string | undefined, roles: readonly HostRole[]): string {
  if (name !== undefined) return name;
  for (const role of roles) {
    const [first] = hostsWithRole(inv, role);
    if (first) return first.name;
  }
  return roles[0] ?? 'unknown';
}

/** The inventory services that run on `host` (by role), optionally only those satisfying `want`. */
export function servicesOn(inv: Inventory, host: Host, want?: (s: Service) => boolean): Service[] {
  return [...inv.services.values()].filter(
    (s) => s.roles.some((r) => host.roles.includes(r)) && (want ? want(s) : true),
  );
}

/** The named service on `host`, or its first one (satisfying `want`) when no name is given. */
export function resolveService(
  inv: Inventory,
  host: Host,
  name: string | undefined,
  want?: (s: Service) => boolean,
  what = 'service',
): Service {
  const candidates = servicesOn(inv, host, want);
  if (name === undefined) {
    const [first] = candidates;
    if (!first) throw new InvalidArgumentError(`${host.name} has no ${what} in the inventory`);
    return first;
  }
  const service = candidates.find((s) => s.name === name);
  if (!service) {
    const known = candidates.map((s) => s.name).join(', ') || 'none';
    throw new InvalidArgumentError(
      `${host.name} has no ${what} "${name}" in the inventory (known: ${known})`,
    );
  }
  return service;
}

// ---------------------------------------------------------------------------------------------
// Running

/** What a diagnostic body returns; `diagnose` adds name, target and duration. */
export interface Verdict<O> {
  readonly status: DiagnosticStatus;
  readonly summary: string;
  readonly data?: O;
  readonly error?: string;
}

/**
 * Runs a diagnostic body and always resolves: a thrown adapter error becomes a result with the
 * status it stands for (see `describeFailure`).
 */
export async function diagnose<O>(
  diagnostic: string,
  target: string,
  body: () => Promise<Verdict<O>>,
): Promise<DiagnosticResult<O>> {
  const started = performance.now();
  try {
    const v = await body();
    return { diagnostic, target, ...v, durationMs: Math.round(performance.now() - started) };
  } catch (err) {
    return failureResult(diagnostic, target, err, Math.round(performance.now() - started));
  }
}

export function failureResult(
  diagnostic: string,
  target: string,
  err: unknown,
  durationMs: number,
): DiagnosticResult<never> {
  const f = describeFailure(err);
  return {
    diagnostic,
    target,
    status: f.status,
    summary: oneLine(`${target}: ${diagnostic} — ${f.headline}`),
    error: f.error,
    durationMs,
  };
}

export interface FailureDescription {
  readonly status: DiagnosticStatus;
  /** Short, for the summary: what it means for the on-call engineer. */
  readonly headline: string;
  /** The full, safe-to-show message. */
  readonly error: string;
}

/**
 * Maps an error thrown while running a diagnostic to a status and a message. Our typed errors carry
 * host names and details we put there ourselves (no secrets); anything else is reported by class
 * name and a cut message.
 */
export function describeFailure(err: unknown): FailureDescription {
  const message = err instanceof Error ? oneLine(err.message, 400) : oneLine(String(err), 400);
  const as = (status: DiagnosticStatus, headline: string): FailureDescription => ({
    status,
    headline: oneLine(headline, 240),
    error: message,
  });
  if (err instanceof SshUnreachableError)
    return as('unreachable', `not reachable over SSH (${stripHost(err)})`);
  if (err instanceof DatabaseUnreachableError)
    return as('unreachable', `PostgreSQL not reachable (${stripHost(err)})`);
  if (err instanceof CacheUnreachableError)
    return as('unreachable', `Redis not reachable (${stripHost(err)})`);
  if (err instanceof HttpUnreachableError)
    return as('unreachable', `HTTP endpoint not reachable (${err.message})`);
  if (err instanceof SshTimeoutError) return as('timeout', `timed out over SSH (${stripHost(err)})`);
  if (err instanceof DatabaseTimeoutError)
    return as('timeout', `PostgreSQL query timed out (${stripHost(err)})`);
  if (err instanceof CacheTimeoutError) return as('timeout', `Redis timed out (${stripHost(err)})`);
  if (err instanceof HttpTimeoutError) return as('timeout', `HTTP request timed out (${err.message})`);
  if (err instanceof SshHostKeyMismatchError) {
    return as(
      'error',
      'SSH host key does not match the pinned key: not connecting (reinstalled host or interception; verify before updating known_hosts)',
    );
  }
  if (err instanceof SshAuthError) {
    return as(
      'error',
      `SSH login refused: check the bot's key and the host's authorized_keys (${stripHost(err)})`,
    );
  }
  if (err instanceof SshExitError) return as('error', `remote command failed (${stripHost(err)})`);
  if (err instanceof DatabaseError) {
    if (err.sqlState === '28P01' || err.sqlState === '28000') {
      return as(
        'error',
        "database login refused for the bot's role: check the database password (QNWIS_DB_PASSWORD)",
      );
    }
    if (err.sqlState === '42501')
      return as('error', `permission denied for the bot's database role (${stripHost(err)})`);
    return as('error', `database error (${stripHost(err)})`);
  }
  if (err instanceof DatabaseReadOnlyError) return as('error', stripHost(err));
  if (err instanceof CacheError) {
    if (err.reply === 'NOAUTH' || err.reply === 'WRONGPASS') {
      return as('error', 'Redis refused authentication: check the cache password');
    }
    return as('error', `Redis error (${stripHost(err)})`);
  }
  if (err instanceof HttpStatusError) return as('error', err.message);
  if (err instanceof UnknownHostError || err instanceof InvalidArgumentError) return as('error', err.message);
  if (err instanceof QnwisError) return as('error', err.message);
  const name = err instanceof Error ? err.name : typeof err;
  return {
    status: 'error',
    headline: `unexpected ${name} while running the check`,
    error: `${name}: ${message}`,
  };
}

/** Our errors start with `ssh to host "x": ` / `database on host "x" …`: the summary names the host already. */
function stripHost(err: Error): string {
  return err.message
    .replace(/^ssh to host "[^"]*": /, '')
    .replace(/^(database|redis) on host "[^"]*"(: | is unreachable: )/, '')
    .replace(/ on host "[^"]*"/, '');
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** One line, control characters removed, at most `max` characters (an ellipsis marks a cut). */
export function oneLine(text: string, max = 300): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we remove.
  const controls = /[\u0000-\u001f\u007f]+/g;
  const flat = text
    .replace(controls, ' ')
    .replace(/\s{2,}/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** 1536 → "1.5 KiB"; binary units like free -h. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.abs(bytes);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const sign = bytes < 0 ? '-' : '';
  if (i === 0) return `${sign}${v} B`;
  return `${sign}${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** 950 → "950 ms", 12_300 → "12 s", 185_000 → "3 min 5 s", 7_500_000 → "2 h 5 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

export function percent(fraction: number): string {
  return `${Math.round(fraction * 100)} %`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : many}`;
}

/** The worse of two statuses for an aggregate (error > warn > ok; unreachable/timeout rank as error). */
export function worst(a: DiagnosticStatus, b: DiagnosticStatus): DiagnosticStatus {
  const rank: Record<DiagnosticStatus, number> = { ok: 0, warn: 1, timeout: 2, unreachable: 3, error: 4 };
  return rank[b] > rank[a] ? b : a;
}
