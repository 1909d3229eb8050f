/** `/qnwis logs` as Block Kit: the newest lines in code blocks, cut to fit, saying what was cut. Pure. */
import type { KnownBlock } from '@slack/web-api';
import type { LogsReport } from '../verbs/logs.js';
import {
  type CommandReply,
  codeBlocks,
  context,
  fitReply,
  footer,
  formatMs,
  header,
  md,
  type ReplyMeta,
  section,
} from './common.js';

/**
 * A JSON log line (the QNWIS app writes JSON lines; the runbook pipes them through `jq`) as
 * `time level logger: message`, about a third of its length; any other line unchanged.
 */
export function condenseLogLine(line: string): { text: string; condensed: boolean } {
  if (!line.startsWith('{')) return { text: line, condensed: false };
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { text: line, condensed: false };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { text: line, condensed: false };
  const o = v as Record<string, unknown>;
  const str = (...keys: string[]) => {
    for (const k of keys) if (typeof o[k] === 'string') return o[k] as string;
    return undefined;
  };
  const msg = str('msg', 'message');
  if (msg === undefined) return { text: line, condensed: false };
  const parts = [str('ts', 'time', 'timestamp'), str('level', 'levelname', 'severity')].filter(Boolean);
  const logger = str('logger', 'name');
  return { text: `${parts.join(' ')}${logger ? ` ${logger}:` : ''} ${msg}`.trim(), condensed: true };
}

/** Serialized JSON the log lines may take (the rest of the message stays well under Slack's 12,000). */
export const LOG_JSON_BUDGET = 9000;

export function logsReply(report: LogsReport, meta: ReplyMeta): CommandReply {
  const what = report.grep === null ? '' : ` matching "${report.grep}"`;
  const whatMd = report.grep === null ? '' : ` matching "${md(report.grep, 250)}"`;
  const blocks: KnownBlock[] = [header(`Logs · ${report.host} · ${report.log}`)];
  blocks.push(
    context([`\`${md(report.script, 600)}\` on *${md(report.host, 64)}* · ${formatMs(report.durationMs)}`]),
  );
  let text: string;
  if (report.problem !== null) {
    blocks.push(section(`:no_entry: *${md(report.host, 64)}*: ${md(report.problem, 1500)}`));
    text = `Logs of ${report.host} (${report.log}): ${report.problem}`;
  } else if (report.output.length === 0) {
    const none =
      report.grep === null
        ? `${md(report.file, 200)} is empty.`
        : `No line${whatMd} in the last ${report.lines} lines of ${md(report.file, 200)}.`;
    blocks.push(section(none));
    text = `Logs of ${report.host} (${report.log}): no lines${what}`;
  } else {
    const condensed = report.output.map(condenseLogLine);
    const code = codeBlocks(
      condensed.map((c) => c.text),
      { jsonBudget: LOG_JSON_BUDGET, keep: 'tail', maxSections: 4 },
    );
    blocks.push(...code.blocks);
    const counted = `${report.output.length} line${report.output.length === 1 ? '' : 's'}${whatMd} (last ${report.lines} lines of ${md(report.file, 200)})`;
    const notes = [counted];
    if (code.shown < code.total) {
      notes.push(
        `showing the newest ${code.shown} (Slack's message size); narrow it with \`--grep\` or \`--lines\``,
      );
    } else if (code.truncated) {
      notes.push('long lines are cut');
    }
    if (condensed.some((c) => c.condensed)) notes.push('JSON lines shown as time level logger: message');
    if (report.outputCut) notes.push('the host’s output was larger than the bot reads and was cut');
    blocks.push(context([notes.join(' · ')]));
    text = `Logs of ${report.host} (${report.log}): ${report.output.length} lines${what}`;
  }
  if (report.stderr) blocks.push(context([`stderr: ${md(report.stderr, 500)}`]));
  blocks.push(footer(meta));
  return fitReply({ text, blocks });
}
