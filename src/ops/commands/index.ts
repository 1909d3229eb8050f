/**
 * The command modules implemented so far, by catalog name. The catalog (catalog.ts) knows every
 * command of issue 6; a command without a module here cannot be planned or run yet
 * (`commandModule` answers undefined and the caller says so).
 */
import type { CommandArgs, CommandName } from './catalog.js';
import { killQuery } from './kill-query.js';
import { restart } from './restart.js';
import type { CommandModule } from './types.js';

export type { KillQueryArgs, KillQueryFacts, KillQueryPlan } from './kill-query.js';
export { createKillQueryCommand, killQuery } from './kill-query.js';
export type { RestartArgs, RestartFacts, RestartOptions, RestartPlan } from './restart.js';
export { createRestartCommand, DEFAULT_HEALTH_GATE_SEC, restart } from './restart.js';
export * from './types.js';

/** Every implemented module; its key is its catalog name. */
export const COMMAND_MODULES = {
  restart,
  'kill-query': killQuery,
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
