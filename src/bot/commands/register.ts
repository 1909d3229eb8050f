/**
 * The `/qnwis` slash command on a Bolt app. Thin transport: parse, decide (role policy), acknowledge
 * within Slack's 3 s, hand off, answer through `response_url`, audit.
 *
 *   refused / usage error / help → answered in the ack itself (ephemeral), nothing runs
 *   anything else                → ack "Running …" (ephemeral) at once, then the result through
 *                                  response_url: in the channel, or only to the asker with --private
 *
 * Only a UserFacingError's text reaches Slack; anything else is logged with a reference id and the
 * person sees "Something went wrong (ref …)". Every invocation is one row in `command_audit`.
 */
import { randomBytes } from 'node:crypto';
import type { App, RespondArguments, SlashCommand } from '@slack/bolt';
import type { CommandRequests } from '../../approvals/service.js';
import { type Config, secretFromConfig } from '../../config.js';
import { UserFacingError } from '../../errors.js';
import { escalationMatrixFrom } from '../../incidents/escalation.js';
import type { Inventory } from '../../inventory.js';
import type { Logger } from '../../observability/logger.js';
import { getJson } from '../../ops/adapters/http.js';
import { QueryLogReader } from '../../ops/adapters/query-log.js';
import { runDiagnostics } from '../../ops/diagnostics/index.js';
import type { DiagnosticContext } from '../../ops/diagnostics/types.js';
import { type AuditResult, CommandAuditStore } from '../../store/audit.js';
import { AuditTrail } from '../../store/audit-trail.js';
import type { Db } from '../../store/db.js';
import type { IncidentStore } from '../../store/incidents.js';
import { type ChatClient, SlackChatClient } from '../chat.js';
import {
  type ListUserGroups,
  type ResolvedRole,
  RoleDirectory,
  type RolePolicy,
  refusalText,
} from '../roles.js';
import { decideVerb } from './access.js';
import { type CommandReply, type ReplyMeta, section } from './blocks/common.js';
import { failureReply, refusalReply, runningText, usageReply } from './blocks/messages.js';
import type { CommandEnv, GetJson, RunDiagnostics, SecurityQueries } from './env.js';
import { type ParseContext, parseContextFromInventory, parseQnwisCommand } from './parse.js';
import { BREAK_GLASS_VERB, isRequestText, parseRequestText } from './request-parse.js';
import { auditArgs, runQnwisCommand } from './run.js';
import { onCallSourceOf, slackUserDirectory } from './verbs/oncall.js';

export const QNWIS_COMMAND = '/qnwis';

export interface QnwisCommandDeps {
  readonly env: CommandEnv;
  readonly rolePolicy: RolePolicy;
  readonly audit: CommandAuditStore;
  readonly log: Logger;
  /** Default: Slack `usergroups.list` with `include_users` through the app's client. */
  readonly listUserGroups?: ListUserGroups;
  /** Command requests (`/qnwis restart app-02`, `/qnwis break-glass …`); absent: read-only verbs only. */
  readonly requests?: CommandRequests | null;
  /** Default "/qnwis". */
  readonly command?: string;
  /** A command still running after this answers "did not finish" (default 30 s). */
  readonly deadlineMs?: number;
  /** Commands one person may have running at once (default 3). */
  readonly maxConcurrentPerUser?: number;
  readonly newRef?: () => string;
  /** Shares a reply's file in the channel (`/qnwis postmortem`). Default: the Bolt app's client. */
  readonly files?: Pick<ChatClient, 'uploadFile'>;
}

/** An 8-character reference id (Crockford base32: no I, L, O, U), e.g. "7K2M9XD4". */
export function newRef(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  return [...randomBytes(8)].map((b) => alphabet[b % 32]).join('');
}

export function registerQnwisCommand(app: App, deps: QnwisCommandDeps): void {
  const commandName = deps.command ?? QNWIS_COMMAND;
  const parseContext: ParseContext = parseContextFromInventory(deps.env.inventory);
  const log = deps.log.child({ component: 'qnwis-command' });
  const roles = new RoleDirectory({
    policy: deps.rolePolicy,
    listUserGroups: deps.listUserGroups ?? slackUserGroups(app),
    onError: (err) => log.warn({ err }, 'user groups could not be listed; deciding on direct mappings'),
  });
  const deadlineMs = deps.deadlineMs ?? 30_000;
  const maxPerUser = deps.maxConcurrentPerUser ?? 3;
  const running = new Map<string, number>();
  const ref = deps.newRef ?? newRef;
  const env: CommandEnv = { ...deps.env, slackUsers: deps.env.slackUsers ?? slackUserDirectory(app.client) };
  const files = deps.files ?? new SlackChatClient(app.client);

  /**
   * `/qnwis <command> …` and `/qnwis break-glass …`: planned and decided by the approval policy
   * (which checks the person's level), so the read-only role gate does not apply. The approval
   * message is posted in the channel for everyone; the asker gets the outcome privately.
   */
  async function handleRequest(
    requests: CommandRequests,
    io: {
      command: SlashCommand;
      ack: (msg?: RespondArguments) => Promise<void>;
      respond: (msg: RespondArguments) => Promise<unknown>;
      meta: ReplyMeta;
      started: number;
      commandName: string;
    },
  ): Promise<void> {
    const { command, meta } = io;
    const text = command.text ?? '';
    const parsed = parseRequestText(text, deps.env.inventory);
    const verb =
      parsed.kind === 'command'
        ? parsed.command.name
        : parsed.kind === 'break-glass'
          ? BREAK_GLASS_VERB
          : parsed.verb;
    const role = await roles.roleOf(command.user_id).catch((): ResolvedRole => ({ role: null, via: [] }));
    const record = (result: AuditResult, detail: string | null, args: Record<string, unknown>) =>
      writeAudit(deps.audit, log, {
        ref: meta.ref,
        at: meta.now,
        userId: command.user_id,
        userName: command.user_name ?? null,
        teamId: command.team_id ?? null,
        channelId: command.channel_id,
        channelName: command.channel_name ?? null,
        command: io.commandName,
        verb,
        args,
        rawText: text,
        role: role.role,
        private: true,
        result,
        detail,
        durationMs: performance.now() - io.started,
        // An accepted request is in the trail already (the request store writes its 'request' row).
        trailKind: result === 'ok' ? null : 'refusal',
      });
    if (parsed.kind === 'error') {
      await io.ack(asResponse(usageReply(parsed.error, parsed.usage, meta), 'ephemeral'));
      await record('invalid', parsed.error, {});
      return;
    }
    await io.ack({
      response_type: 'ephemeral',
      text:
        parsed.kind === 'command'
          ? `Planning \`${verb}\`… nothing runs before it is approved.`
          : 'Declaring break-glass…',
    });
    const asker = { id: command.user_id, name: command.user_name ?? null };
    try {
      if (parsed.kind === 'break-glass') {
        const answer = await requests.breakGlass(asker, parsed.reason, parsed.durationMs, command.channel_id);
        await record(answer.startsWith('Break-glass refused') ? 'refused' : 'ok', answer, {
          reason: parsed.reason,
          durationMs: parsed.durationMs ?? null,
        });
        await deliver(io.respond, { response_type: 'ephemeral', text: answer }, log, meta.ref);
        return;
      }
      const out = await requests.request(asker, parsed.command, {
        channelId: command.channel_id,
        threadTs: null,
        incidentId: null,
      });
      await record(out.ok ? 'ok' : 'refused', out.ok ? out.request.id : out.text, { ...parsed.command.args });
      await deliver(io.respond, { response_type: 'ephemeral', text: out.text }, log, meta.ref);
    } catch (err) {
      log.error({ err, ref: meta.ref, verb }, 'command request failed');
      await record('error', err instanceof Error ? err.name : 'unknown', {});
      await deliver(io.respond, asResponse(failureReply(meta), 'ephemeral'), log, meta.ref);
    }
  }

  app.command(commandName, async ({ command, ack, respond }) => {
    const started = performance.now();
    const meta: ReplyMeta = { userId: command.user_id, now: deps.env.now(), ref: ref() };
    const text = command.text ?? '';
    if (deps.requests && isRequestText(text)) {
      await handleRequest(deps.requests, { command, ack, respond, meta, started, commandName });
      return;
    }
    const parsed = parseQnwisCommand(text, parseContext);
    const verb = parsed.ok ? parsed.invocation.command.verb : parsed.verb;
    const role = await roles.roleOf(command.user_id).catch((err: unknown): ResolvedRole => {
      log.error({ err, ref: meta.ref }, 'role lookup failed');
      return { role: null, via: [] };
    });
    const record = (
      result: AuditResult,
      detail: string | null,
      extra: { private?: boolean; args?: Record<string, unknown> } = {},
    ) =>
      writeAudit(deps.audit, log, {
        ref: meta.ref,
        at: meta.now,
        userId: command.user_id,
        userName: command.user_name ?? null,
        teamId: command.team_id ?? null,
        channelId: command.channel_id,
        channelName: command.channel_name ?? null,
        command: commandName,
        verb,
        args: extra.args ?? (parsed.ok ? auditArgs(parsed.invocation.command) : {}),
        rawText: text,
        role: role.role,
        private: extra.private ?? (parsed.ok ? parsed.invocation.private : parsed.private),
        result,
        detail,
        durationMs: performance.now() - started,
      });

    const decision = decideVerb(deps.rolePolicy, verb, role.role);
    if (!decision.allowed) {
      const what = verb ? `\`${commandName} ${verb}\`` : `\`${commandName}\``;
      await ack(
        asResponse(
          refusalReply(refusalText(deps.rolePolicy, what, role.role, decision.needed), meta),
          'ephemeral',
        ),
      );
      await record('refused', `needs ${decision.needed}; has ${role.role ?? 'no role'}`);
      return;
    }
    if (!parsed.ok) {
      await ack(asResponse(usageReply(parsed.error, parsed.usage, meta), 'ephemeral'));
      await record('invalid', parsed.error);
      return;
    }
    const { command: cmd, private: priv } = parsed.invocation;
    if (cmd.verb === 'help') {
      const reply = await runQnwisCommand(cmd, env, meta);
      await ack(asResponse(reply, 'ephemeral'));
      await record('ok', null);
      return;
    }
    const inFlight = running.get(command.user_id) ?? 0;
    if (inFlight >= maxPerUser) {
      const busy = `You already have ${inFlight} /qnwis commands running; wait for them to answer.`;
      await ack(asResponse(failureReply(meta, busy), 'ephemeral'));
      await record('refused', `${inFlight} commands already running`);
      return;
    }
    running.set(command.user_id, inFlight + 1);
    try {
      await ack({ response_type: 'ephemeral', text: runningText(`${commandName} ${text.trim()}`) });
      let reply: CommandReply;
      let result: AuditResult = 'ok';
      let detail: string | null = null;
      try {
        reply = await withDeadline(runQnwisCommand(cmd, env, meta), deadlineMs, `${commandName} ${cmd.verb}`);
      } catch (err) {
        result = 'error';
        if (err instanceof UserFacingError) {
          detail = err.message;
          reply = failureReply(meta, err.message);
        } else {
          const code = (err as { code?: unknown }).code;
          detail = typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown';
          log.error({ err, ref: meta.ref, verb: cmd.verb, user: command.user_id }, 'qnwis command failed');
          reply = failureReply(meta);
        }
      }
      let responseType: 'ephemeral' | 'in_channel' = priv ? 'ephemeral' : 'in_channel';
      if (reply.file && !priv) {
        // A file cannot be ephemeral: shared in the channel, the asker is told; else the text stands.
        const shared = await shareFile(files, command.channel_id, reply.file, log, meta.ref);
        if (shared) {
          reply = { text: reply.file.sharedText, blocks: [section(reply.file.sharedText)] };
          responseType = 'ephemeral';
        } else detail = 'the file could not be shared; answered with text';
      }
      await record(result, detail);
      await deliver(respond, asResponse(reply, responseType), log, meta.ref);
    } finally {
      const left = (running.get(command.user_id) ?? 1) - 1;
      if (left > 0) running.set(command.user_id, left);
      else running.delete(command.user_id);
    }
  });
}

function asResponse(reply: CommandReply, responseType: 'ephemeral' | 'in_channel'): RespondArguments {
  return { response_type: responseType, text: reply.text, blocks: reply.blocks };
}

async function deliver(
  respond: (msg: RespondArguments) => Promise<unknown>,
  msg: RespondArguments,
  log: Logger,
  ref: string,
): Promise<void> {
  try {
    await respond(msg);
  } catch (err) {
    // response_url expired, used 5 times, or Slack refused the blocks: nothing more to tell the person.
    log.error({ err, ref }, 'qnwis reply could not be delivered through response_url');
  }
}

async function shareFile(
  files: Pick<ChatClient, 'uploadFile'>,
  channel: string,
  file: NonNullable<CommandReply['file']>,
  log: Logger,
  ref: string,
): Promise<boolean> {
  try {
    await files.uploadFile(channel, {
      filename: file.filename,
      title: file.title,
      content: Buffer.from(file.content, 'utf8'),
      initialComment: file.initialComment,
    });
    return true;
  } catch (err) {
    // not_in_channel, a file-sharing policy, Slack down: the asker still gets the text.
    log.warn({ err, ref, filename: file.filename }, 'reply file could not be shared');
    return false;
  }
}

/** The audit write never fails the command: a failure is logged with the whole entry instead. */
async function writeAudit(
  audit: CommandAuditStore,
  log: Logger,
  entry: Parameters<CommandAuditStore['record']>[0],
): Promise<void> {
  try {
    await audit.record(entry);
  } catch (err) {
    log.error({ err, audit: entry }, 'command audit could not be written');
  }
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UserFacingError(
            `${what} did not finish within ${Math.round(ms / 1000)} s; try again or narrow it.`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Every user group with members, through the app's Web API client. */
function slackUserGroups(app: App): ListUserGroups {
  return async () => {
    const res = await app.client.usergroups.list({ include_users: true });
    return (res.usergroups ?? []).map((g) => ({
      id: g.id ?? '',
      handle: g.handle ?? '',
      users: g.users ?? [],
    }));
  };
}

// ---------------------------------------------------------------------------------------------
// Wiring

export interface CreateQnwisCommandDepsOptions {
  readonly config: Config;
  readonly inventory: Inventory;
  /** The diagnostics' context: `createFleetOps(config, inventory, log).context` (src/ops/index.ts). */
  readonly diagnostics: DiagnosticContext;
  /** The bot's own database (audit trail). */
  readonly db: Db;
  readonly store: IncidentStore;
  readonly log: Logger;
  /** Default: `runDiagnostics` of src/ops/diagnostics/index.ts. */
  readonly runDiagnostics?: RunDiagnostics;
  /** Default: a read-only reader of audit.query_log as the inventory's database user. */
  readonly security?: SecurityQueries;
  readonly getJson?: GetJson;
  /** Tell Slack and the escalation clock that an incident changed (a post-mortem link recorded). */
  onIncidentChanged?: (incidentId: number) => Promise<void>;
}

/** Builds the deps from configuration; `close()` ends what it opened (the query-log reader). */
export function createQnwisCommandDeps(
  opts: CreateQnwisCommandDepsOptions,
): QnwisCommandDeps & { close(): Promise<void> } {
  const reader =
    opts.security ??
    new QueryLogReader({
      database: opts.inventory.database,
      password: secretFromConfig(opts.config, opts.inventory.database.passwordEnv),
      statementTimeoutMs: opts.config.PG_STATEMENT_TIMEOUT_MS,
      logger: opts.log,
    });
  const auditTrail = new AuditTrail(opts.db);
  const escalationMatrix = escalationMatrixFrom(opts.config.ESCALATION_MATRIX);
  return {
    env: {
      inventory: opts.inventory,
      diagnostics: opts.diagnostics,
      runDiagnostics: opts.runDiagnostics ?? runDiagnostics,
      incidents: opts.store,
      auditTrail,
      security: reader,
      getJson: opts.getJson ?? getJson,
      httpTimeoutMs: opts.config.HTTP_TIMEOUT_MS,
      now: () => new Date(),
      log: opts.log,
      onCall: onCallSourceOf(opts.config, escalationMatrix),
      escalationMatrix,
      ...(opts.onIncidentChanged ? { onIncidentChanged: opts.onIncidentChanged } : {}),
    },
    rolePolicy: {
      users: opts.config.SLACK_ROLES,
      groups: opts.config.SLACK_GROUP_ROLES,
      readMinimum: opts.config.SLACK_READ_MIN_ROLE,
    },
    audit: new CommandAuditStore(opts.db, auditTrail),
    log: opts.log,
    async close() {
      if (reader instanceof QueryLogReader) await reader.close();
    },
  };
}
