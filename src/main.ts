/**
 * Entry point: `tsx src/main.ts [--role bot|worker|all]`. The only place that reads process.env.
 * Wires config → inventory → adapters → app. Invalid configuration exits 1 with one line per problem.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import {
  type Config,
  checkInventorySecrets,
  checkStoresSeparateFromFleet,
  environmentWithDotenv,
  parseConfig,
} from './config.js';
import { ConfigError } from './errors.js';
import { type Inventory, loadInventory } from './inventory.js';
import { createLogger } from './observability/logger.js';

const ROLES = ['bot', 'worker', 'all'] as const;
type Role = (typeof ROLES)[number];

export interface Startup {
  config: Config;
  inventory: Inventory;
  role: Role;
}

/** Everything that can be wrong before start-up, gathered so the operator sees all problems at once. */
export function loadStartup(argv: string[], env: Record<string, string | undefined>): Startup {
  const { values } = parseArgs({
    args: argv,
    options: { role: { type: 'string', default: 'all' } },
    strict: true,
  });
  const role = values.role as Role;
  if (!ROLES.includes(role)) {
    throw new ConfigError('command line', [
      { path: '--role', message: `must be one of ${ROLES.join(', ')}` },
    ]);
  }
  const config = parseConfig(env);
  const inventory = loadInventory(config.INVENTORY_PATH);
  const issues = [
    ...checkStoresSeparateFromFleet(config, inventory),
    ...checkInventorySecrets(config, inventory),
  ];
  if (issues.length > 0) throw new ConfigError('configuration', issues);
  return { config, inventory, role };
}

async function main(): Promise<void> {
  let startup: Startup;
  try {
    startup = loadStartup(process.argv.slice(2), environmentWithDotenv(process.env));
  } catch (err) {
    if (err instanceof ConfigError || (err instanceof TypeError && 'code' in err)) {
      process.stderr.write(`qnwis-chatops: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const { config, inventory, role } = startup;
  const log = createLogger({ level: config.LOG_LEVEL });
  log.info(
    { role, inventory: inventory.source, environment: inventory.environment, hosts: inventory.hosts.size },
    'qnwis-chatops starting',
  );
  // The HTTP surface grows with the "Alerts in" issue; today it answers liveness only.
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_found' }));
  });
  server.listen(config.PORT, config.HOST, () =>
    log.info({ host: config.HOST, port: config.PORT }, 'listening'),
  );
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    server.close(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/main.ts')) {
  await main();
}
