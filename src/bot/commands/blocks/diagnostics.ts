/**
 * Diagnostic results as Block Kit, for `/qnwis db …`, `redis memory|stats` and `cert`: one line per
 * result (status mark, target, the diagnostic's one-line summary) and, when the result carries
 * evidence, a table of it in a code block. The evidence is rendered from its shape — rows of
 * objects become a table, scalar fields become `name: value` lines — with preferred columns per
 * diagnostic, so a new field in a diagnostic's output shows up without a change here. Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import type { DiagnosticResult } from '../../../ops/diagnostics/types.js';
import {
  bareSummary,
  type CommandReply,
  codeBlocks,
  context,
  fitReply,
  footer,
  formatBytes,
  formatMs,
  header,
  md,
  type ReplyMeta,
  STATUS_MARK,
  section,
  table,
  worstStatus,
} from './common.js';

/** Columns worth showing first, per diagnostic (others follow while there is room). */
const PREFERRED_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  'pg-active-queries': ['pid', 'ageMs', 'user', 'usename', 'state', 'waitEventType', 'query'],
  'pg-statements': ['meanTimeMs', 'calls', 'totalTimeMs', 'rows', 'query'],
  'pg-seqscans': ['schema', 'table', 'seqScan', 'seqTupRead', 'idxScan', 'liveTuples'],
  'pg-table-sizes': ['schema', 'table', 'pretty', 'totalBytes'],
  'pg-replication': [
    'applicationName',
    'clientAddr',
    'state',
    'syncState',
    'replayLagSeconds',
    'replayLagBytes',
  ],
  'tls-expiry': ['endpoint', 'notAfter', 'daysLeft', 'issuer', 'error'],
};
const MAX_COLUMNS = 6;
const MAX_ROWS = 25;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** A field value as text: durations (…Ms), sizes (…Bytes), plain numbers, dates. */
export function formatValue(key: string, v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (/Ms$/.test(key)) return formatMs(v);
    if (/Bytes$/.test(key)) return formatBytes(v);
    if (/Seconds$/.test(key)) return `${Math.round(v * 10) / 10} s`;
    if (/[Rr]ate$/.test(key) && v >= 0 && v <= 1) return `${(v * 100).toFixed(1)}%`;
    // Identifiers (pid, queryId, port) keep their digits; counts get thousands separators.
    if (/(pid|Id|^id|port)$/i.test(key)) return String(v);
    return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2);
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** The first array of row objects in `data` (itself, or a property), with the property name. */
function findRows(data: unknown): { name: string | null; rows: Json[] } | null {
  if (Array.isArray(data)) return data.every(isObject) && data.length > 0 ? { name: null, rows: data } : null;
  if (!isObject(data)) return null;
  for (const [name, v] of Object.entries(data)) {
    if (Array.isArray(v) && v.length > 0 && v.every(isObject)) return { name, rows: v as Json[] };
  }
  return null;
}

/** Evidence of one result as lines for a code block (empty when there is nothing to show). */
export function evidenceLines(result: DiagnosticResult, fields?: readonly string[]): string[] {
  const data = result.data;
  if (data === undefined || data === null) return [];
  const lines: string[] = [];
  if (isObject(data)) {
    for (const [k, v] of Object.entries(data)) {
      if (fields && !fields.includes(k)) continue;
      if (isScalar(v)) lines.push(`${k}: ${formatValue(k, v)}`);
      else if (isObject(v) && Object.values(v).every(isScalar)) {
        lines.push(
          `${k}: ${Object.entries(v)
            .map(([kk, vv]) => `${kk}=${formatValue(kk, vv)}`)
            .join(' ')}`,
        );
      }
    }
  }
  const found = fields ? null : findRows(data);
  if (found) {
    const keys = [...new Set(found.rows.flatMap((r) => Object.keys(r).filter((k) => isScalar(r[k]))))];
    const preferred = (PREFERRED_COLUMNS[result.diagnostic] ?? []).filter((k) => keys.includes(k));
    // A diagnostic with chosen columns shows those; otherwise the first scalar fields.
    const columns = (preferred.length > 0 ? preferred : keys).slice(0, MAX_COLUMNS);
    if (columns.length > 0) {
      if (lines.length > 0) lines.push('');
      if (found.name) lines.push(`${found.name} (${found.rows.length}):`);
      const rows = found.rows.slice(0, MAX_ROWS).map((r) => columns.map((c) => formatValue(c, r[c])));
      lines.push(...table(columns, rows, 100));
      if (found.rows.length > MAX_ROWS) lines.push(`… ${found.rows.length - MAX_ROWS} more`);
    }
  }
  return lines;
}

export interface DiagnosticsReplyInput {
  /** Header, e.g. "Database · slow queries". */
  readonly title: string;
  /** The runbook command or section it stands for. */
  readonly runbook: string;
  readonly results: readonly DiagnosticResult[];
  /** Shown when there are no results (e.g. no TLS endpoints configured). */
  readonly empty?: string;
  /** Only these scalar fields of the evidence (e.g. the memory fields of redis-stats); default all. */
  readonly fields?: readonly string[];
}

/** Slack's message budget shared by all results' evidence. */
const EVIDENCE_BUDGET = 8500;

export function diagnosticsReply(input: DiagnosticsReplyInput, meta: ReplyMeta): CommandReply {
  const blocks: KnownBlock[] = [header(input.title)];
  blocks.push(context([`Runbook: ${md(input.runbook, 300)}`]));
  if (input.results.length === 0) blocks.push(section(md(input.empty ?? 'Nothing to check.', 500)));
  const perResult = Math.floor(EVIDENCE_BUDGET / Math.max(1, input.results.length));
  for (const r of input.results) {
    const detail = r.error && r.error !== r.summary ? `\n_${md(r.error, 600)}_` : '';
    blocks.push(
      section(`${STATUS_MARK[r.status]} *${md(r.target, 64)}* — ${md(bareSummary(r), 900)}${detail}`),
    );
    const evidence = evidenceLines(r, input.fields);
    if (evidence.length > 0) {
      const code = codeBlocks(evidence, {
        jsonBudget: perResult,
        maxSections: 2,
        keep: 'head',
        maxLineLength: 400,
      });
      blocks.push(...code.blocks);
      if (code.shown < code.total) blocks.push(context([`${code.shown} of ${code.total} lines shown`]));
    }
  }
  const worst = worstStatus(input.results.map((r) => r.status));
  const took = Math.max(0, ...input.results.map((r) => r.durationMs));
  blocks.push(footer(meta, [`${STATUS_MARK[worst]} ${worst} · ${formatMs(took)}`]));
  const summary = input.results.map((r) => `${r.target}: ${bareSummary(r)}`).join('; ');
  return fitReply({ text: `${input.title}: ${summary || input.empty || 'nothing to check'}`, blocks });
}
