/**
 * The bot's own PostgreSQL (DATABASE_URL): a pool, and migrations applied at start-up with
 * node-pg-migrate (SQL files in migrations/). Never the QNWIS database (config.ts enforces it).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { StoreUnavailableError } from '../errors.js';
import { type Logger, silentLogger } from '../observability/logger.js';

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export interface StoreOptions {
  url: string;
  /** A schema of its own (tests: one per test file); default public. */
  schema?: string;
  logger?: Logger;
  max?: number;
}

export type Db = pg.Pool;

export function createPool(opts: StoreOptions): Db {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    application_name: 'qnwis-chatops',
    // A runaway query must not hold a webhook past Alertmanager's patience.
    statement_timeout: 10_000,
    ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
  });
  const log = opts.logger ?? silentLogger;
  // An idle client whose server went away emits 'error' on the pool: log it, never crash.
  pool.on('error', (err) => log.warn({ err }, 'bot database connection lost'));
  return pool;
}

/** Creates the bot's database when it does not exist yet (first start on a fresh machine). */
export async function ensureDatabase(url: string, log: Logger = silentLogger): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) return;
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await probe.connect();
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') {
      throw new StoreUnavailableError(`cannot reach the bot database: ${(err as Error).message}`, {
        cause: err,
      });
    }
  } finally {
    await probe.end().catch(() => undefined);
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    log.info({ database: name }, 'created the bot database');
  } catch (err) {
    // Another replica created it at the same moment.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await client.end();
  }
}

/** Applies pending migrations; safe to run from several replicas at once (node-pg-migrate locks). */
export async function migrate(opts: StoreOptions): Promise<void> {
  const log = opts.logger ?? silentLogger;
  await runner({
    databaseUrl: opts.url,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    ...(opts.schema ? { schema: opts.schema, createSchema: true } : {}),
    checkOrder: true,
    log: (msg: string) => log.debug({ migration: msg }, 'migration'),
    verbose: false,
  });
}
