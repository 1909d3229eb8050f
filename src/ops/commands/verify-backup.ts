/**
 * `verify-backup [--into DB]` — runbook "Backup Verification Drill":
 * `gunzip -c /backups/latest.sql.gz | psql qnwis_test`, then the validation queries
 * (`SELECT count(*) FROM qtr_employment_stats;`, `SELECT max(created_at) FROM audit.query_log;`,
 * `SELECT count(DISTINCT table_name) FROM information_schema.tables WHERE table_schema = 'public';`),
 * then "Document results" (`echo "Backup verification: $(date)" >> /var/log/backup_verification.log`).
 *
 * Everything runs on the database primary over SSH as the `postgres` OS user (peer authentication
 * on the host's socket, as `backup`): restoring a plain dump needs a superuser (it sets owners and
 * grants), and the bot's own database role has no rights on the restored tables.
 *
 * - plan: the newest backup in `inventory.database.backup_dir` (by modification time), the target
 *   database (default the inventory's scratch database; the catalog makes any other one a
 *   two-approval, destructive request), its owner and size. Restoring into the production database
 *   itself is refused: that is the runbook's "Database Restore", with the app stopped first.
 * - run: (1) drop the target (terminating its sessions) and re-create it empty from template0 with
 *   the same owner and the same database-level grants (a dump without --create carries neither, and
 *   a fresh database would hand CONNECT to PUBLIC); the script first proves the socket reaches the
 *   cluster that hosts the production database and refuses to drop the production database;
 *   (2) `gzip -dc FILE | psql -v ON_ERROR_STOP=1 DB` (the runbook's restore, but a half-restored
 *   database is an error, not a quiet success; gzip's own status is checked too); (3) the
 *   runbook's validation queries, each reported with its result, beside production's count of
 *   public tables, and one line in /var/log/backup_verification.log (passed or failed).
 * - The drill passes when every query ran; the restored qtr_employment_stats has rows; audit.query_log
 *   has a newest row; and the restored database has as many public tables as production has now (a
 *   table missing from the dump shows here; so would a migration since the backup, which a person
 *   then reads as such).
 * - verify: the validation queries again, read-only: the same results as the run's.
 */
import { z } from 'zod';
import type { Host } from '../../inventory.js';
import { defineRemoteCommand } from '../adapters/ssh.js';
import { diagnose, formatBytes, formatDuration, oneLine } from '../diagnostics/common.js';
import {
  type BackupFile,
  backupPath,
  databaseName,
  listBackups,
  pgPort,
  plannedPrimary,
  primaryDbHost,
  remoteBackupFile,
} from './backup.js';
import type { CommandArgs } from './catalog.js';
import { errorText, runSteps } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  PlanRefusedError,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type VerifyBackupArgs = CommandArgs['verify-backup'];

// ---------------------------------------------------------------------------------------------
// The runbook's validation queries (pure; exported for the unit tests)

export const VALIDATION_QUERIES = [
  { id: 'q1', label: 'rows in qtr_employment_stats', sql: 'SELECT count(*) FROM qtr_employment_stats;' },
  { id: 'q2', label: 'newest audit.query_log row', sql: 'SELECT max(created_at) FROM audit.query_log;' },
  {
    id: 'q3',
    label: 'tables in schema public',
    sql: "SELECT count(DISTINCT table_name) FROM information_schema.tables WHERE table_schema = 'public';",
  },
] as const;
export type ValidationQueryId = (typeof VALIDATION_QUERIES)[number]['id'];
const PUBLIC_TABLES_SQL = VALIDATION_QUERIES[2].sql;

/** One query's raw answer: its single output line, or the error psql printed for it. */
export type QueryAnswer = { readonly value: string | null; readonly error: string | null };

/**
 * Output of `validateRestore` → answer per query. Each query is preceded by `@@id` on stdout
 * (\echo) and on stderr (\warn), so a value and an error are both attributed to their query
 * however psql interleaves the streams.
 */
export function parseValidationOutput(stdout: string, stderr: string): Map<ValidationQueryId, QueryAnswer> {
  const sections = (text: string): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    let current: string[] | undefined;
    for (const line of text.split('\n')) {
      const m = /^@@([a-z0-9]+)$/.exec(line.trim());
      if (m?.[1]) {
        current = [];
        out.set(m[1], current);
      } else if (current && line.trim() !== '') current.push(line.trim());
    }
    return out;
  };
  const values = sections(stdout);
  const errors = sections(stderr);
  const answers = new Map<ValidationQueryId, QueryAnswer>();
  for (const q of VALIDATION_QUERIES) {
    const err = (errors.get(q.id) ?? []).find((l) => /^(ERROR|FATAL|psql:)/.test(l)) ?? null;
    const lines = values.get(q.id);
    answers.set(q.id, {
      value: lines === undefined || lines.length === 0 || err ? null : (lines[0] ?? null),
      error: err ?? (lines === undefined ? 'no answer (psql stopped before this query)' : null),
    });
  }
  return answers;
}

/** "2026-03-01 10:04:05.123456+00" → ISO, or undefined. */
export function parsePgTimestamp(text: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::?(\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4] ?? '00'}`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export type ValidationResult = {
  readonly id: ValidationQueryId;
  readonly label: string;
  readonly sql: string;
  /** The restored database's answer (null on error or NULL). */
  readonly value: string | null;
  /** Production's answer now, where compared (the public table count). */
  readonly production: string | null;
  readonly ok: boolean;
  readonly detail: string;
};

const COUNT = /^[0-9]+$/;

/** The pass rules (see the file comment), one result per runbook query, in order. */
export function judgeValidation(
  answers: ReadonlyMap<ValidationQueryId, QueryAnswer>,
  production: { readonly publicTables: string | null },
  backupTakenAt?: string,
): ValidationResult[] {
  return VALIDATION_QUERIES.map((q): ValidationResult => {
    const a = answers.get(q.id) ?? { value: null, error: 'no answer' };
    const base = { id: q.id, label: q.label, sql: q.sql, value: a.value, production: null };
    if (a.error) return { ...base, ok: false, detail: `${q.label}: ${a.error}` };
    const v = a.value;
    if (q.id === 'q1') {
      if (v === null || !COUNT.test(v) || Number(v) === 0)
        return { ...base, ok: false, detail: `${q.label}: ${v ?? 'NULL'}: the restored table is empty` };
      return { ...base, ok: true, detail: `${q.label}: ${v}` };
    }
    if (q.id === 'q2') {
      const at = v === null ? undefined : parsePgTimestamp(v);
      if (!at) return { ...base, ok: false, detail: `${q.label}: ${v ?? 'NULL'}: the audit log is empty` };
      const gap =
        backupTakenAt && Date.parse(backupTakenAt) >= Date.parse(at)
          ? ` (${formatDuration(Date.parse(backupTakenAt) - Date.parse(at))} before the backup file was written)`
          : '';
      return { ...base, ok: true, detail: `${q.label}: ${at}${gap}` };
    }
    const withProd = { ...base, production: production.publicTables };
    if (v === null || !COUNT.test(v) || Number(v) === 0)
      return { ...withProd, ok: false, detail: `${q.label}: ${v ?? 'NULL'}: no public tables restored` };
    if (production.publicTables !== null && production.publicTables !== v)
      return {
        ...withProd,
        ok: false,
        detail: `${q.label}: ${v} restored, ${production.publicTables} in production now (a table missing from the backup, or a migration since)`,
      };
    return {
      ...withProd,
      ok: true,
      detail: `${q.label}: ${v}${production.publicTables === null ? '' : ' (as in production)'}`,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Remote command templates

/**
 * Drops DB and re-creates it empty with the same owner and database-level grants (see the file
 * comment); refuses unless this cluster hosts PROD and DB is not PROD. psql variables (:'db',
 * :"db") quote the names inside SQL; no value is spliced into the script.
 */
export const scratchRecreate = defineRemoteCommand({
  name: 'scratch-db-recreate',
  script: [
    'cd / || exit 1',
    "sudo -u postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -p {{port}} -d postgres -v db={{database}} -v prod={{production}} <<'SQL'",
    "SELECT set_config('qnwis.db', :'db', false), set_config('qnwis.prod', :'prod', false) \\g /dev/null",
    'DO $$',
    'BEGIN',
    "  IF NOT EXISTS (SELECT FROM pg_database WHERE datname = current_setting('qnwis.prod')) THEN",
    "    RAISE EXCEPTION 'this cluster has no database %: not the production primary, refusing', current_setting('qnwis.prod');",
    '  END IF;',
    "  IF current_setting('qnwis.db') = current_setting('qnwis.prod') THEN",
    "    RAISE EXCEPTION 'refusing to drop the production database %', current_setting('qnwis.prod');",
    '  END IF;',
    'END',
    '$$;',
    "SELECT coalesce((SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db'),",
    "                (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'prod')) AS owner,",
    "       coalesce((SELECT datacl IS NOT NULL FROM pg_database WHERE datname = :'db'), false) AS has_acl,",
    "       coalesce((SELECT json_agg(format('GRANT %s ON DATABASE %I TO %s%s', a.privilege_type, :'db',",
    "                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,",
    "                   CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))",
    "                   FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = :'db'), '[]') AS grants",
    '\\gset',
    'DROP DATABASE IF EXISTS :"db" WITH (FORCE);',
    'CREATE DATABASE :"db" OWNER :"owner" TEMPLATE template0;',
    '\\if :has_acl',
    'REVOKE ALL ON DATABASE :"db" FROM PUBLIC;',
    "SELECT json_array_elements_text(:'grants'::json) \\gexec",
    '\\endif',
    "SELECT 'owner ' || pg_get_userbyid(datdba) || ' acl ' || coalesce(datacl::text, 'default') FROM pg_database WHERE datname = :'db';",
    'SQL',
  ].join('\n'),
  args: { database: databaseName, production: databaseName, port: pgPort },
  timeoutSec: 600,
  maxOutputBytes: 256 * 1024,
});

/**
 * The runbook's `gunzip -c FILE | psql DB`, stopping at the first error, with gzip's own exit
 * status carried out of the pipe on fd 3 (sh has no pipefail). psql's output is discarded; errors
 * stay on stderr. Four hours: the runbook's recovery time objective.
 */
export const restoreBackup = defineRemoteCommand({
  name: 'backup-restore',
  script: [
    'cd / || exit 1',
    'test -f {{file}} || { echo "no such backup file" >&2; exit 3; }',
    'gz=$( { { gzip -dc {{file}}; echo $? >&3; } | sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -p {{port}} -d {{database}} > /dev/null; } 3>&1 )',
    'ps=$?',
    'if [ "$gz" != 0 ]; then echo "gzip -dc exited $gz: the backup is corrupt or truncated" >&2; exit 4; fi',
    'if [ "$ps" != 0 ]; then echo "psql exited $ps: the restore stopped at the error above" >&2; exit 5; fi',
    'echo restored',
  ].join('\n'),
  args: { file: remoteBackupFile, database: databaseName, port: pgPort },
  timeoutSec: 4 * 3600,
  maxOutputBytes: 256 * 1024,
});

/** The validation queries with @@ markers on both streams (see `parseValidationOutput`). */
export const validateRestore = defineRemoteCommand({
  name: 'backup-validate',
  script: [
    'cd / || exit 1',
    "sudo -u postgres psql -X -q -A -t -p {{port}} -d {{database}} <<'SQL'",
    "SET TimeZone = 'UTC';",
    ...VALIDATION_QUERIES.flatMap((q) => [`\\echo @@${q.id}`, `\\warn @@${q.id}`, q.sql]),
    '\\echo @@end',
    'SQL',
  ].join('\n'),
  args: { database: databaseName, port: pgPort },
  timeoutSec: 900,
  maxOutputBytes: 64 * 1024,
});

/** The third validation query alone, for production (cheap: catalog only). */
export const publicTableCount = defineRemoteCommand({
  name: 'public-table-count',
  script: [
    'cd / || exit 1',
    "sudo -u postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -p {{port}} -d {{database}} <<'SQL'",
    PUBLIC_TABLES_SQL,
    'SQL',
  ].join('\n'),
  args: { database: databaseName, port: pgPort },
  timeoutSec: 60,
  maxOutputBytes: 4 * 1024,
});

/** Runbook step 3, "Document results": one line appended to /var/log/backup_verification.log. */
export const recordVerification = defineRemoteCommand({
  name: 'backup-verification-log',
  script: "printf '%s\\n' {{line}} >> /var/log/backup_verification.log",
  args: {
    line: z
      .string()
      .min(1)
      .max(600)
      .regex(/^[\x20-\x7e]+$/, 'must be one printable line'),
  },
  timeoutSec: 10,
});

// ---------------------------------------------------------------------------------------------
// The module

export type VerifyBackupFacts = {
  readonly host: string;
  readonly production: string;
  readonly into: string;
  /** `into` is the inventory's scratch database. */
  readonly scratch: boolean;
  readonly port: number;
  readonly backupDir: string;
  /** The newest backup when planned: the one restored (approved as such). */
  readonly backup: BackupFile;
  readonly path: string;
  readonly target: { readonly exists: boolean; readonly owner: string | null; readonly bytes: number | null };
  readonly queries: readonly { readonly id: string; readonly label: string; readonly sql: string }[];
};

export type VerifyBackupPlan = CommandPlan<VerifyBackupFacts>;

/** The line for /var/log/backup_verification.log (printable ASCII, one line). */
export function verificationLogLine(
  at: Date,
  f: { readonly backup: { readonly name: string }; readonly into: string },
  results: readonly ValidationResult[],
): string {
  const value = (v: string | null) => (v ?? 'NULL').replace(/[^\x21-\x7e]/g, '_');
  return (
    `Backup verification: ${at.toISOString()} file=${f.backup.name} into=${f.into} ` +
    `result=${results.length > 0 && results.every((r) => r.ok) ? 'passed' : 'failed'} ` +
    results.map((r) => `${r.id}=${value(r.value)}`).join(' ')
  ).slice(0, 600);
}

function validationText(results: readonly ValidationResult[]): string {
  return results.map((r) => `${r.ok ? '✓' : '✗'} ${r.detail}`).join('; ');
}

async function runValidation(
  ctx: CommandContext,
  host: Host,
  f: VerifyBackupFacts,
): Promise<ValidationResult[]> {
  const [restored, prod] = await Promise.all([
    ctx.ssh.run(host, validateRestore, { database: f.into, port: f.port }),
    ctx.ssh
      .run(host, publicTableCount, { database: f.production, port: f.port })
      .then((r) => (COUNT.test(r.stdout.trim()) ? r.stdout.trim() : null))
      .catch(() => null),
  ]);
  return judgeValidation(
    parseValidationOutput(restored.stdout, restored.stderr),
    { publicTables: prod },
    f.backup.modifiedAt,
  );
}

export function createVerifyBackupCommand(): CommandModule<VerifyBackupArgs, VerifyBackupFacts> {
  return {
    name: 'verify-backup',

    async plan(ctx, args) {
      const inv = ctx.inventory;
      const production = inv.database.name;
      if (args.into === production) {
        throw new PlanRefusedError(
          'verify-backup',
          `${production} is the production database: a drill never restores over it (that is the runbook's Database Restore, with the app stopped first)`,
        );
      }
      const host = primaryDbHost(inv, 'verify-backup');
      let files: BackupFile[];
      try {
        files = await listBackups(ctx, host);
      } catch (err) {
        throw new PlanRefusedError(
          'verify-backup',
          `cannot read ${inv.database.backupDir} on ${host.name}: ${errorText(err)}`,
        );
      }
      const [newest] = files;
      if (!newest)
        throw new PlanRefusedError(
          'verify-backup',
          `no backup in ${inv.database.backupDir} on ${host.name}: run backup first`,
        );
      let target: VerifyBackupFacts['target'];
      try {
        const info = await ctx.db.databaseInfo(host, args.into);
        target = { exists: info.exists, owner: info.owner, bytes: info.bytes };
      } catch (err) {
        throw new PlanRefusedError(
          'verify-backup',
          `cannot look up database ${args.into} on ${host.name}: ${errorText(err)}`,
        );
      }
      const scratch = inv.database.scratchDatabase === args.into;
      const path = backupPath(inv.database.backupDir, newest.name);
      const port = inv.database.port;
      const targetText = target.exists
        ? `${args.into} (owner ${target.owner}${target.bytes === null ? '' : `, ${formatBytes(target.bytes)}`})`
        : `${args.into} (does not exist yet)`;
      return {
        command: 'verify-backup',
        summary: `verify-backup ${newest.name} into ${args.into}`,
        steps: [
          {
            id: 'recreate',
            host: host.name,
            kind: 'remote-command',
            description:
              `DROP DATABASE ${targetText} WITH (FORCE), then CREATE DATABASE ${args.into} from template0 with the same owner and grants ` +
              `(as postgres on ${host.name}; refused unless that cluster hosts ${production} and the target is not ${production})`,
            timeoutSec: scratchRecreate.timeoutSec,
          },
          {
            id: 'restore',
            host: host.name,
            kind: 'remote-command',
            description: `gzip -dc ${path} | sudo -u postgres psql -v ON_ERROR_STOP=1 ${args.into} (backup ${formatBytes(newest.bytes)}, written ${newest.modifiedAt})`,
            timeoutSec: restoreBackup.timeoutSec,
          },
          {
            id: 'validate',
            host: host.name,
            kind: 'remote-command',
            description:
              `The runbook's validation queries on ${args.into}: ${VALIDATION_QUERIES.map((q) => q.sql).join(' ')} ` +
              `(the public table count also on ${production}, to compare); the result is appended to ` +
              `/var/log/backup_verification.log on ${host.name}`,
            timeoutSec: validateRestore.timeoutSec,
          },
        ],
        blastRadius: scratch
          ? `the scratch database ${args.into} on ${host.name} is replaced (its sessions are terminated); ` +
            `${production} is only read; the restore loads ${host.name}'s cluster (and, by WAL, the replica)`
          : `${args.into} on ${host.name} is NOT the scratch database: it is DROPPED and replaced by the backup, ` +
            `its current data is lost and its sessions are terminated; ${production} is only read`,
        facts: {
          host: host.name,
          production,
          into: args.into,
          scratch,
          port,
          backupDir: inv.database.backupDir,
          backup: newest,
          path,
          target,
          queries: VALIDATION_QUERIES.map((q) => ({ id: q.id, label: q.label, sql: q.sql })),
        },
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (f.into !== args.into)
        return { ok: false, reason: `the plan is for ${f.into}, the request for ${args.into}` };
      if (f.into === ctx.inventory.database.name)
        return { ok: false, reason: `${f.into} is the production database` };
      const host = plannedPrimary(ctx, f.host);
      if (typeof host === 'string') return { ok: false, reason: host };
      let files: BackupFile[];
      try {
        files = await listBackups(ctx, host);
      } catch (err) {
        return { ok: false, reason: `cannot read ${f.backupDir} on ${host.name}: ${errorText(err)}` };
      }
      const now = files.find((x) => x.name === f.backup.name);
      if (!now) return { ok: false, reason: `${f.path} is gone from ${host.name}: plan again` };
      if (now.bytes !== f.backup.bytes || now.modifiedAt !== f.backup.modifiedAt)
        return {
          ok: false,
          reason: `${f.path} changed since the plan (${formatBytes(f.backup.bytes)} → ${formatBytes(now.bytes)}): plan again`,
        };
      const newer =
        files[0] && files[0].name !== f.backup.name
          ? `; a newer backup exists (${files[0].name}), plan again to drill that one`
          : '';
      return { ok: true, detail: `${f.path} is unchanged on ${host.name}${newer}` };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      let results: ValidationResult[] = [];
      let restoreMs: number | null = null;
      const host = (): Host => {
        const h = plannedPrimary(ctx, f.host);
        if (typeof h === 'string') throw new PlanRefusedError('verify-backup', h);
        return h;
      };
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({
          file: f.backup.name,
          into: f.into,
          restoreMs,
          results: results.map((r) => ({ ...r })),
        }),
        handlers: {
          recreate: async () => {
            const r = await ctx.ssh.run(host(), scratchRecreate, {
              database: f.into,
              production: f.production,
              port: f.port,
            });
            return { status: 'done', detail: `${f.into} re-created empty: ${oneLine(r.stdout, 200)}` };
          },
          restore: async () => {
            const started = ctx.now().getTime();
            await ctx.ssh.run(host(), restoreBackup, { file: f.path, database: f.into, port: f.port });
            restoreMs = ctx.now().getTime() - started;
            return {
              status: 'done',
              detail: `${f.backup.name} restored into ${f.into} in ${formatDuration(restoreMs)}`,
            };
          },
          validate: async () => {
            results = await runValidation(ctx, host(), f);
            const passed = results.every((r) => r.ok);
            // Runbook step 3, "Document results", for a failed drill as much as for a passed one.
            let logged = 'appended to /var/log/backup_verification.log';
            try {
              await ctx.ssh.run(host(), recordVerification, {
                line: verificationLogLine(ctx.now(), f, results),
              });
            } catch (err) {
              logged = `not logged on the host: ${errorText(err)}`;
            }
            return {
              status: passed ? 'done' : 'failed',
              detail: oneLine(`${validationText(results)}; ${logged}`, 1500),
            };
          },
        },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const ran = (outcome.observations.results ?? []) as unknown as ValidationResult[];
      const before =
        ran.length > 0
          ? `during the run: ${validationText(ran)}`
          : 'the run did not get to the validation queries';
      const host = plannedPrimary(ctx, f.host);
      if (typeof host === 'string') return { ok: false, before, after: host, detail: host, evidence: [] };
      let now: ValidationResult[] = [];
      const result = await diagnose('backup-validation', host.name, async () => {
        now = await runValidation(ctx, host, f);
        const ok = now.every((r) => r.ok);
        return {
          status: ok ? 'ok' : 'error',
          summary: oneLine(
            `${host.name}: ${f.into} restored from ${f.backup.name}: ${validationText(now)}`,
            800,
          ),
          data: { results: now.map((r) => ({ ...r })) },
        };
      });
      if (now.length === 0)
        return { ok: false, before, after: result.summary, detail: result.summary, evidence: [result] };
      const passed = now.every((r) => r.ok);
      const same = ran.length === now.length && ran.every((r, i) => r.value === now[i]?.value);
      const problems = [
        ...now.filter((r) => !r.ok).map((r) => r.detail),
        ...(ran.length > 0 && !same
          ? [`${f.into} answers differently than during the run (someone changed it since)`]
          : []),
      ];
      return {
        ok: passed && ran.length > 0 && same,
        before,
        after: validationText(now),
        detail:
          problems.length === 0 && ran.length > 0
            ? `${f.backup.name} restores into ${f.into} and passes the runbook's validation queries`
            : oneLine(problems.join('; ') || before, 800),
        evidence: [result],
      };
    },
  };
}

export const verifyBackup = createVerifyBackupCommand();
