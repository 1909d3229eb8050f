/**
 * The thread reply with a playbook's results: one line per check, worst first, with the evidence
 * an on-call engineer needs (error patterns, the slow query, the top process). Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import type { DiagnosticResult, DiagnosticStatus } from '../../ops/diagnostics/types.js';
import { checkSlackLimits } from './limits.js';
import { escapeTruncate, mrkdwn, oneLine } from './text.js';
import { formatDuration } from './view.js';

export interface DiagnosisEvent {
  playbook: string;
  runbook?: string;
  verdict: string;
  durationMs: number;
  results: DiagnosticResult[];
}

const STATUS_ICON: Readonly<Record<DiagnosticStatus, string>> = {
  error: '🔴',
  unreachable: '⛔',
  timeout: '⏱️',
  warn: '🟠',
  ok: '🟢',
};
const RANK: Readonly<Record<DiagnosticStatus, number>> = {
  error: 0,
  unreachable: 1,
  timeout: 2,
  warn: 3,
  ok: 4,
};
const MAX_SECTIONS = 40;

/** Short evidence lines from a result's data, for the shapes the diagnostics return. */
export function evidenceLines(result: DiagnosticResult): string[] {
  const data = (result.data ?? {}) as Record<string, unknown>;
  const lines: string[] = [];
  const patterns = data.patterns as { pattern?: string; count?: number }[] | undefined;
  if (Array.isArray(patterns)) {
    for (const p of patterns.slice(0, 3))
      lines.push(`×${p.count ?? '?'}  ${oneLine(String(p.pattern ?? ''))}`);
  }
  const queries = data.queries as
    | { pid?: number; ageMs?: number; user?: string; query?: string }[]
    | undefined;
  if (Array.isArray(queries)) {
    for (const q of queries.slice(0, 3)) {
      lines.push(
        `pid ${q.pid} · ${q.user ?? '?'} · ${formatDuration(q.ageMs ?? 0)} · ${oneLine(String(q.query ?? ''))}`,
      );
    }
  }
  const processes = data.processes as { pid?: number; rssBytes?: number; command?: string }[] | undefined;
  if (Array.isArray(processes)) {
    for (const p of processes.slice(0, 3)) {
      lines.push(
        `pid ${p.pid} · ${Math.round((p.rssBytes ?? 0) / 1048576)} MiB · ${oneLine(String(p.command ?? ''))}`,
      );
    }
  }
  return lines.map((l) => l.slice(0, 200));
}

export function diagnosisReply(event: DiagnosisEvent): { text: string; blocks: KnownBlock[] } {
  const results = [...event.results].sort((a, b) => RANK[a.status] - RANK[b.status]);
  const bad = results.filter((r) => r.status !== 'ok').length;
  const head = `🔎 *Diagnostics* (${escapeTruncate(event.runbook ?? event.playbook, 100)}) — ${results.length} checks in ${formatDuration(event.durationMs)}, ${bad === 0 ? 'nothing wrong found' : `${bad} need attention`}`;
  const blocks: KnownBlock[] = [{ type: 'section', text: mrkdwn(head, { verbatim: true }) }];
  for (const r of results.slice(0, MAX_SECTIONS - 2)) {
    const line = `${STATUS_ICON[r.status]} *${escapeTruncate(r.target, 60)}* · ${escapeTruncate(r.diagnostic, 40)}: ${escapeTruncate(oneLine(r.summary || r.error || ''), 600)}`;
    const evidence = evidenceLines(r);
    const body =
      evidence.length > 0 ? `${line}\n\`\`\`${escapeTruncate(evidence.join('\n'), 1500)}\`\`\`` : line;
    blocks.push({ type: 'section', text: mrkdwn(body, { verbatim: true }) });
  }
  if (results.length > MAX_SECTIONS - 2) {
    blocks.push({
      type: 'context',
      elements: [mrkdwn(`…and ${results.length - (MAX_SECTIONS - 2)} more checks`, { verbatim: true })],
    });
  }
  const message = { text: `Diagnostics: ${oneLine(event.verdict)}`.slice(0, 300), blocks };
  // The builder must never produce something Slack refuses; shed evidence if it would.
  if (checkSlackLimits(message).length > 0) {
    return {
      text: message.text,
      blocks: [
        blocks[0] as KnownBlock,
        ...results.slice(0, 30).map(
          (r): KnownBlock => ({
            type: 'section',
            text: mrkdwn(
              `${STATUS_ICON[r.status]} *${escapeTruncate(r.target, 60)}*: ${escapeTruncate(oneLine(r.summary), 250)}`,
              {
                verbatim: true,
              },
            ),
          }),
        ),
      ],
    };
  }
  return message;
}
