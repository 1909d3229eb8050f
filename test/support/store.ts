/** A schema of its own per test file in the machine's PostgreSQL, migrated, dropped afterwards. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPool, type Db, ensureDatabase, migrate } from '../../src/store/db.js';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/qnwis_chatops_test';

export interface TestStore {
  db: Db;
  schema: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestStore(): Promise<TestStore> {
  const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await ensureDatabase(TEST_DATABASE_URL);
  await migrate({ url: TEST_DATABASE_URL, schema });
  const db = createPool({ url: TEST_DATABASE_URL, schema, max: 5 });
  return {
    db,
    schema,
    url: TEST_DATABASE_URL,
    async drop() {
      await db.end();
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`);
      await c.end();
    },
  };
}
