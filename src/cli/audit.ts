/**
 * `npm run audit -- <verb>`: the audit trail from a shell, for an operator or an auditor.
 *
 *   verify [--from-id N]                             walk the hash chain; exit 0 when intact, 1 at
 *                                                    the first broken link (naming the row), 2 when
 *                                                    the check could not run
 *   list [--user U] [--since 24h] [--request R-…]    newest entries first (at most --limit, 50)
 *        [--limit N] [--json]
 *
 * Reads DATABASE_URL (and .env) through src/config.ts like the bot. `--schema S` reads the trail
 * in that schema, as the bot does with its schema option (tests run each file in a schema).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { environmentWithDotenv, parseDatabaseConfig } from '../config.js';
import { ConfigError, InvalidArgumentError } from '../errors.js';
import { parseDurationSec } from '../ops/commands/catalog.js';
import { AuditTrail, type AuditTrailRow } from '../store/audit-trail.js';
import { createPool } from '../store/db.js';

const USAGE = `usage: npm run audit -- verify [--from-id N] [--schema S]
       npm run audit -- list [--user U] [--since 24h] [--request R-…] [--limit N] [--json] [--schema S]`;

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

/** Runs one invocation; resolves with the exit code. */
export async function runAuditCli(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIo,
): Promise<number> {
  let parsed: ReturnType<typeof parseCliArgs>;
  let url: string;
  try {
    parsed = parseCliArgs(argv);
    url = parseDatabaseConfig(env).DATABASE_URL;
  } catch (err) {
    io.err(err instanceof ConfigError || err instanceof InvalidArgumentError ? err.message : String(err));
    io.err(USAGE);
    return 2;
  }
  const db = createPool({ url, max: 2, ...(parsed.schema ? { schema: parsed.schema } : {}) });
  const trail = new AuditTrail(db);
  try {
    if (parsed.verb === 'verify') {
      const check = await trail.verify(parsed.fromId === undefined ? {} : { fromId: parsed.fromId });
      if (check.ok) {
        io.out(`audit chain ok: ${check.rows} rows, last hash ${check.lastHash ?? 'none (empty trail)'}`);
        return 0;
      }
      io.out(`audit chain BROKEN at row ${check.brokenAtId}: ${check.reason}`);
      io.out(`(${check.rows} rows before it are intact)`);
      return 1;
    }
    const rows = await trail.list({
      ...(parsed.user ? { userId: parsed.user } : {}),
      ...(parsed.sinceSec ? { since: new Date(Date.now() - parsed.sinceSec * 1000) } : {}),
      ...(parsed.request ? { requestId: parsed.request } : {}),
      limit: parsed.limit,
    });
    if (parsed.json) {
      for (const r of rows) io.out(JSON.stringify(r));
    } else {
      for (const r of rows) io.out(formatRow(r));
      io.out(`${rows.length} entr${rows.length === 1 ? 'y' : 'ies'}`);
    }
    return 0;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    io.err(
      e.code === '42P01'
        ? 'there is no audit_trail table here: has the bot run its migrations against this database (and schema)?'
        : `audit ${parsed.verb} failed: ${e.message ?? String(err)}`,
    );
    return 2;
  } finally {
    await db.end();
  }
}

interface CliArgs {
  verb: 'verify' | 'list';
  schema?: string;
  fromId?: number;
  user?: string;
  sinceSec?: number;
  request?: string;
  limit: number;
  json: boolean;
}

function parseCliArgs(argv: readonly string[]): CliArgs {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        schema: { type: 'string' },
        'from-id': { type: 'string' },
        user: { type: 'string' },
        since: { type: 'string' },
        request: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  const verb = positionals[0];
  if (positionals.length !== 1 || (verb !== 'verify' && verb !== 'list')) {
    throw new InvalidArgumentError(verb ? `unknown verb ${JSON.stringify(verb)}` : 'say verify or list');
  }
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const schema = str('schema');
  if (schema !== undefined && !SCHEMA.test(schema)) {
    throw new InvalidArgumentError('--schema must be a plain lower-case schema name');
  }
  const int = (k: string, min: number, max: number) => {
    const v = str(k);
    if (v === undefined) return undefined;
    if (!/^\d{1,12}$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new InvalidArgumentError(`--${k} must be a whole number from ${min} to ${max}`);
    }
    return Number(v);
  };
  const since = str('since');
  const user = str('user')
    ?.replace(/^<?@?|>$/g, '')
    .replace(/\|.*$/, '');
  return {
    verb,
    ...(schema ? { schema } : {}),
    ...(verb === 'verify' && str('from-id') ? { fromId: int('from-id', 1, Number.MAX_SAFE_INTEGER) } : {}),
    ...(user ? { user } : {}),
    ...(since ? { sinceSec: parseDurationSec(since, '--since', 60, 366 * 86_400) } : {}),
    ...(str('request') ? { request: str('request') } : {}),
    limit: int('limit', 1, 1000) ?? 50,
    json: values.json === true,
  };
}

/** One line: when, who (role), what, request, summary. */
export function formatRow(r: AuditTrailRow): string {
  const who =
    r.actorId === null
      ? 'bot'
      : `${r.actorName ?? r.actorId} (${r.actorId}${r.actorRole ? `, ${r.actorRole}` : ''})`;
  const ref = r.requestId ?? (typeof r.data.ref === 'string' ? `ref ${r.data.ref}` : '');
  const oneLine = (s: string) => s.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ');
  return [`#${r.id}`, r.at.toISOString(), r.kind.padEnd(11), oneLine(who), oneLine(ref), oneLine(r.summary)]
    .filter(Boolean)
    .join('  ');
}

const script = process.argv[1];
if (script && import.meta.url === pathToFileURL(path.resolve(script)).href) {
  runAuditCli(process.argv.slice(2), environmentWithDotenv(process.env), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`audit: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
