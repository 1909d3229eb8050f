/**
 * The command modules implemented so far, by catalog name. The catalog (catalog.ts) knows every
 * command of issue 6; a command without a module here cannot be planned or run yet
 * (`commandModule` answers undefined and the caller says so).
 */
import { backup } from './backup.js';
import type { CommandArgs, CommandName } from './catalog.js';
import { certRenew } from './cert-renew.js';
import { analyze, reindex, vacuumAnalyze } from './db-maintenance.js';
import { failover } from './failover.js';
import { flushCache } from './flush-cache.js';
import { flushDb } from './flushdb.js';
import { killQuery } from './kill-query.js';
import { maintenance } from './maintenance.js';
import { restart } from './restart.js';
import { restartRedis } from './restart-redis.js';
import { rollingRestart } from './rolling-restart.js';
import type { CommandModule } from './types.js';
import { verifyBackup } from './verify-backup.js';
import { warmCache } from './warm-cache.js';

export type { BackupArgs, BackupFacts, BackupFile, BackupOptions, BackupPlan } from './backup.js';
export { backup, createBackupCommand, DEFAULT_MIN_BACKUP_BYTES } from './backup.js';
export type { CertRenewArgs, CertRenewFacts, CertRenewOptions, CertRenewPlan } from './cert-renew.js';
export { buildCertRenewPlan, certRenew, createCertRenewCommand, parseCertbotRenew } from './cert-renew.js';
export type {
  AnalyzeArgs,
  AnalyzeFacts,
  DbMaintenanceOptions,
  ReindexArgs,
  ReindexFacts,
  VacuumAnalyzeArgs,
  VacuumAnalyzeFacts,
} from './db-maintenance.js';
export {
  analyze,
  createAnalyzeCommand,
  createReindexCommand,
  createVacuumAnalyzeCommand,
  reindex,
  vacuumAnalyze,
} from './db-maintenance.js';
export type { FailoverArgs, FailoverFacts, FailoverOptions, FailoverPlan } from './failover.js';
export { buildFailoverPlan, createFailoverCommand, FAILOVER_DEFAULTS, failover } from './failover.js';
export type {
  FlushCacheArgs,
  FlushCacheFacts,
  FlushCacheOptions,
  FlushCachePlan,
  FlushKeyFacts,
  FlushPatternFacts,
} from './flush-cache.js';
export { createFlushCacheCommand, FLUSH_CACHE_DEFAULTS, flushCache } from './flush-cache.js';
export type { FlushDbArgs, FlushDbFacts, FlushDbPlan } from './flushdb.js';
export { createFlushDbCommand, flushDb } from './flushdb.js';
export type { KillQueryArgs, KillQueryFacts, KillQueryPlan } from './kill-query.js';
export { createKillQueryCommand, killQuery } from './kill-query.js';
export type {
  FleetMaintenanceState,
  MaintenanceArgs,
  MaintenanceFacts,
  MaintenanceOptions,
  MaintenancePlan,
} from './maintenance.js';
export { createMaintenanceCommand, maintenance } from './maintenance.js';
export type { RestartArgs, RestartFacts, RestartOptions, RestartPlan } from './restart.js';
export { createRestartCommand, DEFAULT_HEALTH_GATE_SEC, restart } from './restart.js';
export type {
  RestartRedisArgs,
  RestartRedisFacts,
  RestartRedisOptions,
  RestartRedisPlan,
} from './restart-redis.js';
export { createRestartRedisCommand, restartRedis } from './restart-redis.js';
export type {
  RollingRestartArgs,
  RollingRestartFacts,
  RollingRestartOptions,
  RollingRestartPlan,
} from './rolling-restart.js';
export { createRollingRestartCommand, rollingRestart } from './rolling-restart.js';
export * from './types.js';
export type {
  ValidationResult,
  VerifyBackupArgs,
  VerifyBackupFacts,
  VerifyBackupPlan,
} from './verify-backup.js';
export { createVerifyBackupCommand, verifyBackup } from './verify-backup.js';
export type { WarmCacheArgs, WarmCacheFacts, WarmCacheOptions, WarmCachePlan } from './warm-cache.js';
export { createWarmCacheCommand, DEFAULT_APP_DIR, warmCache, warmCacheScript } from './warm-cache.js';

/** Every implemented module; its key is its catalog name. */
export const COMMAND_MODULES = {
  restart,
  'kill-query': killQuery,
  'cert-renew': certRenew,
  failover,
  maintenance,
  'rolling-restart': rollingRestart,
  'restart-redis': restartRedis,
  'flush-cache': flushCache,
  flushdb: flushDb,
  'warm-cache': warmCache,
  'vacuum-analyze': vacuumAnalyze,
  reindex,
  analyze,
  backup,
  'verify-backup': verifyBackup,
} as const satisfies { readonly [N in CommandName]?: CommandModule<CommandArgs[N]> };

export type ImplementedCommand = keyof typeof COMMAND_MODULES;
export const IMPLEMENTED_COMMANDS = Object.keys(COMMAND_MODULES) as ImplementedCommand[];

export function isImplemented(name: CommandName): name is ImplementedCommand {
  return Object.hasOwn(COMMAND_MODULES, name);
}

/** The module of an implemented command, typed by its catalog arguments. */
export function commandModule<N extends ImplementedCommand>(name: N): CommandModule<CommandArgs[N]>;
/** The module of any catalog command, or undefined while it is not implemented. */
export function commandModule(name: CommandName): CommandModule<CommandArgs[CommandName]> | undefined;
export function commandModule(name: CommandName): CommandModule<never> | undefined {
  return isImplemented(name) ? (COMMAND_MODULES[name] as CommandModule<never>) : undefined;
}
