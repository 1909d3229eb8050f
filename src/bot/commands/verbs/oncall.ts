/**
 * `/qnwis oncall`: who is on call now, from PagerDuty's on-calls for the configured escalation
 * policy, each matched to their Slack user by e-mail (`users.lookupByEmail`). PagerDuty being
 * unconfigured, unreachable, rate-limiting or refusing is a result the reply explains, not a failure;
 * a Slack lookup that fails leaves that one person unmatched, with the reason.
 */
import type { WebClient } from '@slack/web-api';
import type { Config } from '../../../config.js';
import { PagerDutyRejectedError, PagerDutyUnavailableError, SlackRejectedError } from '../../../errors.js';
import type { EscalationMatrix } from '../../../incidents/escalation.js';
import { ESCALATION_PATH } from '../../../incidents/runbook.js';
import { type PagerDutyOnCall, PagerDutyRest } from '../../../ops/adapters/pagerduty-rest.js';
import type { CommandEnv } from '../env.js';

export interface SlackUserRef {
  readonly id: string;
  /** Their real name (or display name, or handle). */
  readonly name: string | null;
}

/**
 * Slack users by e-mail. Resolves null when Slack has nobody with it (`users_not_found`); rejects
 * on anything else (rate limit, Slack down, a missing `users:read.email` scope).
 */
export interface SlackUserDirectory {
  byEmail(email: string): Promise<SlackUserRef | null>;
}

/** What the verb reads PagerDuty with; absent parts are named in `missing`. */
export interface OnCallSource {
  /** `PagerDutyRest` (src/ops/adapters/pagerduty-rest.ts); null without PAGERDUTY_API_TOKEN. */
  readonly pagerDuty: { onCalls(escalationPolicyId: string): Promise<PagerDutyOnCall[]> } | null;
  readonly policyId: string | null;
  /** The settings that are not set, for the reply ("PAGERDUTY_API_TOKEN"). */
  readonly missing: readonly string[];
  /** PagerDuty escalation level → who the runbook calls that level ("L2 Senior SRE"). */
  readonly levelTitles: Readonly<Record<number, string>>;
}

/** Titles by PagerDuty level from the escalation matrix ("L1 On-call engineer"). */
export function levelTitlesOf(matrix: EscalationMatrix): Record<number, string> {
  const byLevel = new Map<number, string[]>();
  for (const level of Object.values(matrix.levels)) {
    if (level.pagerDutyLevel === null) continue;
    byLevel.set(level.pagerDutyLevel, [...(byLevel.get(level.pagerDutyLevel) ?? []), level.title]);
  }
  return Object.fromEntries([...byLevel].map(([n, titles]) => [n, `L${n} ${titles.join(' / ')}`]));
}

export function levelTitle(level: number, titles: Readonly<Record<number, string>>): string {
  return titles[level] ?? ESCALATION_PATH[level - 1] ?? `L${level}`;
}

export type SlackMatch =
  | { readonly kind: 'matched'; readonly user: SlackUserRef }
  | { readonly kind: 'no-match' }
  /** PagerDuty did not give the e-mail (a token without access to it). */
  | { readonly kind: 'no-email' }
  | { readonly kind: 'lookup-failed'; readonly error: string };

export interface OnCallPerson {
  readonly pagerDutyId: string;
  readonly name: string;
  readonly email: string | null;
  readonly slack: SlackMatch;
}

export interface OnCallLevel {
  readonly level: number;
  readonly title: string;
  readonly people: readonly OnCallPerson[];
}

export type OnCallReport =
  | { readonly kind: 'not-configured'; readonly missing: readonly string[] }
  | {
      readonly kind: 'unavailable';
      /** PagerDuty answered 429. */
      readonly rateLimited: boolean;
      readonly retryAfterMs: number;
      readonly detail: string;
    }
  | { readonly kind: 'refused'; readonly detail: string; readonly policyId: string }
  | {
      readonly kind: 'ok';
      readonly policy: { readonly id: string; readonly name: string | null };
      /** Lowest level first; empty: nobody is on call for the policy. */
      readonly levels: readonly OnCallLevel[];
    };

async function matchSlack(
  directory: SlackUserDirectory | undefined,
  email: string | null,
): Promise<SlackMatch> {
  if (!email) return { kind: 'no-email' };
  if (!directory) return { kind: 'lookup-failed', error: 'no Slack client' };
  try {
    const user = await directory.byEmail(email);
    return user ? { kind: 'matched', user } : { kind: 'no-match' };
  } catch (err) {
    const error =
      err instanceof SlackRejectedError
        ? err.slackError
        : ((err as { code?: string }).code ?? (err as Error).name);
    return { kind: 'lookup-failed', error };
  }
}

export async function collectOnCall(env: Pick<CommandEnv, 'onCall' | 'slackUsers'>): Promise<OnCallReport> {
  const source = env.onCall;
  if (!source?.pagerDuty || !source.policyId) {
    return {
      kind: 'not-configured',
      missing: source?.missing.length
        ? source.missing
        : ['PAGERDUTY_API_TOKEN', 'PAGERDUTY_ESCALATION_POLICY_ID'],
    };
  }
  let oncalls: PagerDutyOnCall[];
  try {
    oncalls = await source.pagerDuty.onCalls(source.policyId);
  } catch (err) {
    if (err instanceof PagerDutyUnavailableError) {
      return {
        kind: 'unavailable',
        rateLimited: err.rateLimited,
        retryAfterMs: err.retryAfterMs,
        detail: err.message,
      };
    }
    if (err instanceof PagerDutyRejectedError)
      return { kind: 'refused', detail: err.message, policyId: source.policyId };
    throw err;
  }
  // One lookup per e-mail: a person on several levels is looked up once.
  const emails = [...new Set(oncalls.map((o) => o.user.email?.toLowerCase() ?? ''))].filter(Boolean);
  const matches = new Map(
    await Promise.all(emails.map(async (e) => [e, await matchSlack(env.slackUsers, e)] as const)),
  );
  const levels = new Map<number, OnCallPerson[]>();
  for (const o of oncalls) {
    const email = o.user.email;
    const person: OnCallPerson = {
      pagerDutyId: o.user.id,
      name: o.user.name,
      email,
      slack: email ? (matches.get(email.toLowerCase()) ?? { kind: 'no-match' }) : { kind: 'no-email' },
    };
    const people = levels.get(o.level) ?? [];
    // The same person through two schedules on one level is listed once.
    if (!people.some((p) => p.pagerDutyId === person.pagerDutyId)) people.push(person);
    levels.set(o.level, people);
  }
  const first = oncalls[0];
  return {
    kind: 'ok',
    policy: { id: source.policyId, name: first ? first.policy.name : null },
    levels: [...levels]
      .sort(([a], [b]) => a - b)
      .map(([level, people]) => ({ level, title: levelTitle(level, source.levelTitles), people })),
  };
}

/** `users.lookupByEmail` through a Web API client (needs the `users:read.email` scope). */
export function slackUserDirectory(client: Pick<WebClient, 'users'>): SlackUserDirectory {
  return {
    async byEmail(email) {
      try {
        const res = await client.users.lookupByEmail({ email });
        const u = res.user;
        if (!u?.id) return null;
        const name = u.real_name || u.profile?.real_name || u.profile?.display_name || u.name || null;
        return { id: u.id, name };
      } catch (err) {
        const slackError = (err as { data?: { error?: string } }).data?.error;
        if (slackError === 'users_not_found') return null;
        if (slackError) throw new SlackRejectedError('users.lookupByEmail', slackError, { cause: err });
        throw err;
      }
    },
  };
}

/** The verb's PagerDuty side from configuration; what is missing is named, not guessed. */
export function onCallSourceOf(
  config: Pick<Config, 'PAGERDUTY_API_URL' | 'PAGERDUTY_API_TOKEN' | 'PAGERDUTY_ESCALATION_POLICY_ID'>,
  matrix: EscalationMatrix,
): OnCallSource {
  const missing = [
    ...(config.PAGERDUTY_API_TOKEN ? [] : ['PAGERDUTY_API_TOKEN']),
    ...(config.PAGERDUTY_ESCALATION_POLICY_ID ? [] : ['PAGERDUTY_ESCALATION_POLICY_ID']),
  ];
  return {
    pagerDuty: config.PAGERDUTY_API_TOKEN
      ? new PagerDutyRest({ baseUrl: config.PAGERDUTY_API_URL, token: config.PAGERDUTY_API_TOKEN })
      : null,
    policyId: config.PAGERDUTY_ESCALATION_POLICY_ID ?? null,
    missing,
    levelTitles: levelTitlesOf(matrix),
  };
}
