/**
 * The edge to the fleet, assembled once: pooled SSH, the QNWIS database and cache clients, and the
 * context diagnostics run in. The only way code outside src/ops gets an SSH runner (Biome forbids
 * importing the adapter directly), so every remote command still goes through a template.
 */
import { type Config, secretFromConfig } from '../config.js';
import type { Inventory } from '../inventory.js';
import type { Logger } from '../observability/logger.js';
import { AlertmanagerClient } from './adapters/alertmanager.js';
import { createChangeEventsClient } from './adapters/pagerduty-change.js';
import { FleetDatabase } from './adapters/postgres.js';
import { FleetCache } from './adapters/redis.js';
import { SshRunner } from './adapters/ssh.js';
import type { CommandContext } from './commands/types.js';
import type { DiagnosticContext } from './diagnostics/types.js';

export interface FleetOps {
  readonly context: DiagnosticContext;
  /**
   * The command context's optional ports, present when configured (the inventory's Alertmanager;
   * PagerDuty change events when PAGERDUTY_ROUTING_KEY is set):
   * `createCommandContext({ ...fleet.context, ...fleet.commandPorts })`.
   */
  readonly commandPorts: Pick<CommandContext, 'alertmanager' | 'changeEvents'>;
  close(): Promise<void>;
}

export function createFleetOps(config: Config, inventory: Inventory, log: Logger): FleetOps {
  const ssh = new SshRunner({
    logger: log,
    connectTimeoutMs: config.SSH_CONNECT_TIMEOUT_MS,
    maxConcurrentPerHost: config.SSH_MAX_CONCURRENCY_PER_HOST,
  });
  const db = new FleetDatabase({
    database: inventory.database,
    password: secretFromConfig(config, inventory.database.passwordEnv),
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    logger: log,
  });
  const cache = new FleetCache({
    cache: inventory.cache,
    password: secretFromConfig(config, inventory.cache.passwordEnv),
    logger: log,
  });
  const adminTokenEnv = [...inventory.services.values()].find((s) => s.adminTokenEnv)?.adminTokenEnv;
  const alertmanagerUrl = inventory.monitoring.alertmanagerUrl;
  return {
    commandPorts: {
      ...(alertmanagerUrl ? { alertmanager: new AlertmanagerClient({ url: alertmanagerUrl }) } : {}),
      ...(config.PAGERDUTY_ROUTING_KEY
        ? {
            changeEvents: createChangeEventsClient({
              eventsUrl: config.PAGERDUTY_EVENTS_URL,
              routingKey: config.PAGERDUTY_ROUTING_KEY,
            }),
          }
        : {}),
    },
    context: {
      inventory,
      ssh,
      db,
      cache,
      adminToken: secretFromConfig(config, adminTokenEnv),
      stepTimeoutMs: config.SSH_COMMAND_TIMEOUT_SEC * 1000,
      now: () => new Date(),
    },
    async close() {
      await Promise.allSettled([ssh.close(), db.close(), cache.close()]);
    },
  };
}
