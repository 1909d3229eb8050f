/**
 * `/qnwis oncall` as Block Kit: one line per escalation level ("L1 On-call engineer: <@U…> (Omar
 * Haddad)"), who has no Slack match, and a clear sentence when PagerDuty cannot answer. Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import type { OnCallPerson, OnCallReport } from '../verbs/oncall.js';
import {
  type CommandReply,
  context,
  fitReply,
  footer,
  header,
  md,
  type ReplyMeta,
  section,
} from './common.js';

/** Level lines per section (each well under 300 characters). */
const LINES_PER_SECTION = 10;

function personText(p: OnCallPerson): string {
  switch (p.slack.kind) {
    case 'matched':
      return `<@${p.slack.user.id}> (${md(p.slack.user.name ?? p.name, 80)})`;
    case 'no-match':
      return `${md(p.name, 80)} (${md(p.email ?? '', 120)}; no Slack user with this e-mail)`;
    case 'no-email':
      return `${md(p.name, 80)} (PagerDuty gave no e-mail to match in Slack)`;
    case 'lookup-failed':
      return `${md(p.name, 80)} (${md(p.email ?? '', 120)}; Slack lookup failed: ${md(p.slack.error, 60)})`;
  }
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

export function oncallReply(report: OnCallReport, meta: ReplyMeta): CommandReply {
  const blocks: KnownBlock[] = [];
  switch (report.kind) {
    case 'not-configured':
      return fitReply({
        text: 'PagerDuty is not configured for /qnwis oncall',
        blocks: [
          section(
            `:information_source: PagerDuty is not configured, so I cannot say who is on call: set ${report.missing
              .map((m) => `\`${md(m, 60)}\``)
              .join(' and ')} in the bot's environment.`,
          ),
          footer(meta),
        ],
      });
    case 'unavailable':
      return fitReply({
        text: report.rateLimited
          ? 'PagerDuty is rate-limiting the bot; try again shortly'
          : 'PagerDuty could not be reached',
        blocks: [
          section(
            report.rateLimited
              ? `:hourglass: PagerDuty is rate-limiting the bot; try \`/qnwis oncall\` again in ${seconds(report.retryAfterMs)} s.`
              : `:warning: PagerDuty did not answer (${md(report.detail, 300)}); try again in ${seconds(report.retryAfterMs)} s, or look at the PagerDuty schedule.`,
          ),
          footer(meta),
        ],
      });
    case 'refused':
      return fitReply({
        text: 'PagerDuty refused the on-call query',
        blocks: [
          section(
            `:warning: PagerDuty refused the on-call query for escalation policy \`${md(report.policyId, 40)}\`: ${md(report.detail, 500)}\nCheck \`PAGERDUTY_API_TOKEN\` and \`PAGERDUTY_ESCALATION_POLICY_ID\`.`,
          ),
          footer(meta),
        ],
      });
    case 'ok':
      break;
  }
  const policy = report.policy.name
    ? `${md(report.policy.name, 100)} (\`${md(report.policy.id, 40)}\`)`
    : `\`${md(report.policy.id, 40)}\``;
  blocks.push(header('On call now'));
  if (report.levels.length === 0) {
    blocks.push(
      section(
        `:warning: Nobody is on call for escalation policy ${policy} in PagerDuty. Is \`PAGERDUTY_ESCALATION_POLICY_ID\` right?`,
      ),
    );
    blocks.push(footer(meta));
    return fitReply({ text: `Nobody is on call for ${report.policy.name ?? report.policy.id}`, blocks });
  }
  const lines = report.levels.map((l) => `${md(l.title, 80)}: ${l.people.map(personText).join(', ')}`);
  for (let i = 0; i < lines.length; i += LINES_PER_SECTION) {
    blocks.push(section(lines.slice(i, i + LINES_PER_SECTION).join('\n')));
  }
  const unmatched = report.levels.flatMap((l) => l.people.filter((p) => p.slack.kind !== 'matched'));
  if (unmatched.length > 0) {
    const names = [...new Set(unmatched.map((p) => md(p.name, 60)))];
    blocks.push(
      context([
        `:warning: No Slack match for ${names.slice(0, 10).join(', ')}${names.length > 10 ? ` and ${names.length - 10} more` : ''}: their PagerDuty e-mail is not a Slack user's. Reach them through PagerDuty.`,
      ]),
    );
  }
  blocks.push(
    footer(meta, [`From PagerDuty's on-calls for escalation policy ${policy}, matched to Slack by e-mail`]),
  );
  const first = report.levels[0];
  const firstPerson = first?.people[0];
  return fitReply({
    text:
      first && firstPerson
        ? `On call: ${first.title}: ${firstPerson.slack.kind === 'matched' ? (firstPerson.slack.user.name ?? firstPerson.name) : firstPerson.name}`
        : 'On call now',
    blocks,
  });
}
