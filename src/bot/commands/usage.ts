/**
 * The `/qnwis` verbs, their one-line usage and what they do: the single source for `help`, usage
 * errors and the role policy's "read" classification. Pure data.
 */
import { GREP_MAX_LENGTH, LOG_LINES } from '../../ops/log-commands.js';
import type { RoleLevel } from '../roles.js';

export const VERBS = [
  'help',
  'status',
  'logs',
  'db',
  'redis',
  'security',
  'cert',
  'incidents',
  'incident',
  'postmortem',
  'oncall',
  'audit',
] as const;
export type Verb = (typeof VERBS)[number];

export const DB_VIEWS = [
  'connections',
  'activity',
  'slow',
  'statements',
  'tables',
  'seqscans',
  'lag',
] as const;
export type DbView = (typeof DB_VIEWS)[number];

export const REDIS_VIEWS = ['memory', 'stats', 'keys'] as const;
export type RedisView = (typeof REDIS_VIEWS)[number];

/** `--lines` bounds and the longest `--grep` text live with the log templates (src/ops). */
export { GREP_MAX_LENGTH, LOG_LINES };

export interface VerbSpec {
  readonly usage: string;
  readonly summary: string;
  /** The runbook section it stands for. */
  readonly runbook: string;
  readonly examples: readonly string[];
  /** Least role for this verb when above the read minimum (SLACK_READ_MIN_ROLE); say so in `summary`. */
  readonly minimumRole?: RoleLevel;
}

/** `/qnwis audit` shows at most this many entries. */
export const AUDIT_LIST_LIMIT = 20;
/** The furthest back `--since` reaches. */
export const AUDIT_SINCE_MAX_SEC = 366 * 86_400;

export const VERB_SPECS: Readonly<Record<Verb, VerbSpec>> = {
  help: {
    usage: '/qnwis help [VERB]',
    summary: 'this list, or the usage of one verb',
    runbook: '—',
    examples: ['/qnwis help logs'],
  },
  status: {
    usage: '/qnwis status',
    summary:
      'every app host (service active, /health), database roles and replication lag, Redis, maintenance mode, open incidents',
    runbook: 'Checking System Status',
    examples: ['/qnwis status', '/qnwis status --private'],
  },
  logs: {
    usage: `/qnwis logs HOST [app|error|audit] [--grep TEXT] [--lines N]`,
    summary: `the last N lines (default ${LOG_LINES.default}, at most ${LOG_LINES.max}) of a host's log, optionally only those containing TEXT (a fixed string, not a regex)`,
    runbook: 'Viewing Logs',
    examples: [
      '/qnwis logs app-01 error --lines 200',
      '/qnwis logs app-02 app --grep "query_id=q_2024_001234"',
      '/qnwis logs app-01 audit --grep user_id=analyst_123',
    ],
  },
  db: {
    usage: `/qnwis db ${DB_VIEWS.join('|')}`,
    summary:
      'connections vs pool · activity (running statements) · slow (running > 5 s) · statements (pg_stat_statements top by mean time) · tables (sizes) · seqscans · lag (replication)',
    runbook: 'Database Operations',
    examples: ['/qnwis db connections', '/qnwis db slow', '/qnwis db lag'],
  },
  redis: {
    usage: '/qnwis redis memory|stats|keys PATTERN',
    summary: 'memory, hit rate and evictions, or cache keys matching PATTERN (SCAN, capped)',
    runbook: 'Redis Operations',
    examples: ['/qnwis redis stats', "/qnwis redis keys 'qnwis:cache:query:*'"],
  },
  security: {
    usage: '/qnwis security',
    summary:
      'failed authentications (audit.log), rate-limit violations (app.log), users with > 100 queries in the last hour',
    runbook: 'Security Monitoring',
    examples: ['/qnwis security --private'],
  },
  cert: {
    usage: '/qnwis cert',
    summary: 'TLS certificate expiry of the configured endpoints',
    runbook: 'Certificate Renewal',
    examples: ['/qnwis cert'],
  },
  incidents: {
    usage: '/qnwis incidents',
    summary: 'open incidents, newest first',
    runbook: 'Incident Response',
    examples: ['/qnwis incidents'],
  },
  incident: {
    usage: '/qnwis incident ID',
    summary: 'one incident (QNWIS-123 or 123) with its timeline',
    runbook: 'Incident Response',
    examples: ['/qnwis incident QNWIS-42'],
  },
  postmortem: {
    usage: '/qnwis postmortem ID [--link URL]',
    summary:
      'the post-mortem draft of an incident (QNWIS-123 or 123) as a Markdown file: timeline, alerts, diagnosis, commands with approvers, durations against the runbook targets, SLOs; --link records where the written one lives (ends the 48-h reminder)',
    runbook: 'Incident Response Workflow › 5. Post-mortem',
    examples: ['/qnwis postmortem QNWIS-42', '/qnwis postmortem QNWIS-42 --link https://wiki.example/pm/42'],
  },
  oncall: {
    usage: '/qnwis oncall',
    summary: "who is on call now at each escalation level (PagerDuty's on-calls), with their Slack users",
    runbook: 'On-Call Responsibilities › Escalation Path',
    examples: ['/qnwis oncall', '/qnwis oncall --private'],
  },
  audit: {
    usage: '/qnwis audit [--user @PERSON|U…] [--since 24h]',
    summary: `the newest ${AUDIT_LIST_LIMIT} entries of the tamper-evident audit trail (who, what, when, request), of one person or since a time; for L2 senior SRE and above`,
    runbook: 'Audit trail (npm run audit -- verify checks the chain)',
    examples: [
      '/qnwis audit',
      '/qnwis audit --user @oncall --since 24h',
      '/qnwis audit --since 30m --private',
    ],
    minimumRole: 'L2',
  },
};

export const GLOBAL_FLAGS_USAGE = '`--private` on any verb answers only you (ephemeral).';

export function isVerb(word: string): word is Verb {
  return (VERBS as readonly string[]).includes(word);
}
