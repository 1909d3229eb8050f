/**
 * Runs a parsed `/qnwis` command and renders its reply: each verb maps to the runbook's read-only
 * checks (diagnostics, log templates, SCAN, the incident store) and one Block Kit builder.
 * Host and service problems come back as results inside the reply; only programming or bot-store
 * failures reject (the caller turns them into "something went wrong (ref …)").
 */
import { assertNever } from '../../errors.js';
import { auditReply } from './blocks/audit.js';
import type { CommandReply, ReplyMeta } from './blocks/common.js';
import { diagnosticsReply } from './blocks/diagnostics.js';
import { incidentNotFoundReply, incidentReply, incidentsReply } from './blocks/incidents.js';
import { logsReply } from './blocks/logs.js';
import { helpReply } from './blocks/messages.js';
import { oncallReply } from './blocks/oncall.js';
import { postmortemLinkReply, postmortemReply } from './blocks/postmortem.js';
import { redisKeysReply } from './blocks/redis.js';
import { securityReply } from './blocks/security.js';
import { statusReply } from './blocks/status.js';
import type { CommandEnv } from './env.js';
import { incidentDetail, openIncidents } from './incident-queries.js';
import type { QnwisCommand } from './parse.js';
import { listAudit } from './verbs/audit.js';
import { CERT_RUNBOOK, runCert } from './verbs/cert.js';
import { DB_VIEW_SPECS, runDb } from './verbs/db.js';
import { fetchLogs } from './verbs/logs.js';
import { collectOnCall } from './verbs/oncall.js';
import { draftPostmortem, linkPostmortem } from './verbs/postmortem.js';
import { runRedisStats, scanRedisKeys } from './verbs/redis.js';
import { runSecurity } from './verbs/security.js';
import { collectStatus } from './verbs/status.js';

/** `redis memory`: INFO memory and what it costs (evictions). */
export const REDIS_MEMORY_FIELDS = [
  'usedMemoryBytes',
  'maxmemoryBytes',
  'maxmemoryPolicy',
  'evictedKeys',
  'role',
];
/** `redis stats`: hit rate (lifetime and the sampled window), evictions, clients, replication. */
export const REDIS_STATS_FIELDS = [
  'hitRate',
  'keyspaceHits',
  'keyspaceMisses',
  'window',
  'evictedKeys',
  'connectedClients',
  'role',
  'connectedReplicas',
  'masterLinkStatus',
];

/** Open incidents listed by `/qnwis incidents`. */
export const INCIDENTS_LIMIT = 20;

export async function runQnwisCommand(
  command: QnwisCommand,
  env: CommandEnv,
  meta: ReplyMeta,
): Promise<CommandReply> {
  switch (command.verb) {
    case 'help':
      return helpReply(command.topic, meta);
    case 'status':
      return statusReply(await collectStatus(env), meta);
    case 'logs':
      return logsReply(await fetchLogs(command, env), meta);
    case 'db': {
      const spec = DB_VIEW_SPECS[command.view];
      return diagnosticsReply(
        {
          title: spec.title,
          runbook: spec.runbook,
          results: await runDb(command.view, env),
          empty: 'No database hosts in the inventory.',
        },
        meta,
      );
    }
    case 'redis':
      if (command.view === 'keys') return redisKeysReply(await scanRedisKeys(command.pattern, env), meta);
      return diagnosticsReply(
        {
          title: command.view === 'memory' ? 'Redis · memory' : 'Redis · stats',
          runbook:
            command.view === 'memory'
              ? 'INFO memory'
              : 'INFO stats | grep keyspace (hit rate), evictions, clients, replication',
          results: await runRedisStats(env),
          empty: 'No redis hosts in the inventory.',
          fields: command.view === 'memory' ? REDIS_MEMORY_FIELDS : REDIS_STATS_FIELDS,
        },
        meta,
      );
    case 'security':
      return securityReply(await runSecurity(env), meta);
    case 'cert':
      return diagnosticsReply(
        {
          title: 'TLS certificates',
          runbook: CERT_RUNBOOK,
          results: await runCert(env),
          empty: 'No TLS endpoints are configured (inventory monitoring.tls_endpoints).',
        },
        meta,
      );
    case 'incidents':
      return incidentsReply(await openIncidents(env.incidents, INCIDENTS_LIMIT), meta);
    case 'incident': {
      const detail = await incidentDetail(env.incidents, command.id);
      return detail ? incidentReply(detail, meta) : incidentNotFoundReply(command.key, meta);
    }
    case 'postmortem':
      if (command.link !== undefined)
        return postmortemLinkReply(
          await linkPostmortem({ ...command, link: command.link }, env, meta.userId),
          meta,
        );
      return postmortemReply(await draftPostmortem(command, env), meta);
    case 'oncall':
      return oncallReply(await collectOnCall(env), meta);
    case 'audit':
      return auditReply(await listAudit(command, env), meta);
    default:
      return assertNever(command, 'command');
  }
}

/** The parsed arguments, for the audit trail. */
export function auditArgs(command: QnwisCommand): Record<string, unknown> {
  const { verb: _verb, ...rest } = command;
  return rest;
}
