/**
 * What the `/qnwis` verbs run with: the fleet's adapters (through the diagnostics contract), the
 * bot's incident store, and the few ports the diagnostics do not cover. Every port states its
 * failure semantics; the verbs turn host and service problems into results, not exceptions.
 */
import type { EscalationMatrix } from '../../incidents/escalation.js';
import type { Host, Inventory } from '../../inventory.js';
import type { Logger } from '../../observability/logger.js';
import type { DiagnosticContext, DiagnosticResult } from '../../ops/diagnostics/types.js';
import type { AuditTrail } from '../../store/audit-trail.js';
import type { IncidentStore } from '../../store/incidents.js';
import type { OnCallSource, SlackUserDirectory } from './verbs/oncall.js';

/** One diagnostic to run on one target (a host name, or "fleet"). */
export interface DiagnosticRequest {
  readonly diagnostic: string;
  readonly target: string;
  readonly input?: unknown;
}

/**
 * `runDiagnostics` from src/ops/diagnostics/index.ts: runs the requests in parallel and resolves
 * with one result per request (a host problem is a result with a status, never a rejection).
 */
export type RunDiagnostics = (
  ctx: DiagnosticContext,
  requests: DiagnosticRequest[],
) => Promise<readonly DiagnosticResult[]>;

/** A user of the QNWIS app with their number of queries in the window. */
export interface HeavyQueryUser {
  readonly userId: string;
  readonly queries: number;
}

/**
 * The runbook's "suspicious query patterns" query over `audit.query_log` on the primary:
 * parameterised, read-only. Rejects with the typed database errors (unreachable, timeout,
 * `DatabaseError` with SQLSTATE, e.g. 42501 when the role may not read the table).
 */
export interface SecurityQueries {
  heavyQueryUsers(
    host: Host,
    opts: { readonly threshold: number; readonly windowMinutes: number; readonly limit: number },
  ): Promise<HeavyQueryUser[]>;
}

/** GET a JSON document with a bearer token and a deadline (src/ops/adapters/http.ts `getJson`). */
export type GetJson = (
  url: string,
  opts: { readonly bearerToken?: string; readonly timeoutMs?: number },
) => Promise<unknown>;

export interface CommandEnv {
  readonly inventory: Inventory;
  /** The diagnostics' context: inventory, SSH runner, fleet database and cache, admin token, clock. */
  readonly diagnostics: DiagnosticContext;
  readonly runDiagnostics: RunDiagnostics;
  readonly incidents: IncidentStore;
  /** The hash-chained audit trail, for `/qnwis audit` (absent: the verb says it is unavailable). */
  readonly auditTrail?: Pick<AuditTrail, 'list' | 'append'>;
  readonly security: SecurityQueries;
  readonly getJson: GetJson;
  /** Deadline of the maintenance GET. */
  readonly httpTimeoutMs: number;
  readonly now: () => Date;
  readonly log: Logger;
  /** PagerDuty's on-calls for `/qnwis oncall` (absent: the verb says PagerDuty is not configured). */
  readonly onCall?: OnCallSource;
  /** Slack users by e-mail (`users.lookupByEmail`), to match on-calls; the Bolt app's client by default. */
  readonly slackUsers?: SlackUserDirectory;
  /** The configured escalation matrix: the post-mortem draft's targets and level titles. */
  readonly escalationMatrix?: EscalationMatrix;
  /** Tell Slack and the escalation clock that an incident changed (enqueues its sync). */
  readonly onIncidentChanged?: (incidentId: number) => Promise<void>;
}
