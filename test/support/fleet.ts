/**
 * The fleet adapters and a command context against the running lab, as the command integration
 * tests need them: one place that knows the lab's credentials and the adapters' test settings.
 */
import type { Inventory } from '../../src/inventory.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import { type CommandContext, createCommandContext } from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';
import { labCredentials, labInventory } from './lab.js';

export interface LabFleet {
  inventory: Inventory;
  ssh: SshRunner;
  db: FleetDatabase;
  cache: FleetCache;
  ctx: CommandContext;
  adminToken: string;
  close(): Promise<void>;
}

export async function openLabFleet(opts: { stepTimeoutMs?: number } = {}): Promise<LabFleet> {
  const inventory = labInventory();
  const creds = await labCredentials();
  const ssh = new SshRunner({ connectTimeoutMs: 3_000 });
  const db = new FleetDatabase({ database: inventory.database, password: creds.postgres.ops });
  const cache = new FleetCache({ cache: inventory.cache, password: undefined });
  const adminToken = creds.adminToken;
  const ctx = createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh,
      db,
      cache,
      adminToken,
      stepTimeoutMs: opts.stepTimeoutMs ?? 5_000,
    }),
  );
  return {
    inventory,
    ssh,
    db,
    cache,
    ctx,
    adminToken,
    close: async () => {
      await Promise.all([ssh.close(), db.close(), cache.close()]);
    },
  };
}
