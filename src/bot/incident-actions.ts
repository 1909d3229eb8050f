/**
 * Bolt listeners for the incident controls (src/bot/blocks/incident-controls.ts). Transport only:
 * acknowledge the interaction within Slack's 3 s at once, then let `IncidentResponse` act and tell
 * the clicker the outcome privately (response_url, or an ephemeral message after a modal).
 */
import type { App, BlockAction, ButtonAction, StaticSelectAction, UsersSelectAction } from '@slack/bolt';
import type { Logger } from '../observability/logger.js';
import {
  INCIDENT_CONTROL_ACTIONS,
  keyOfControls,
  RESOLVE_MODAL_CALLBACK,
  RESOLVE_NOTE_ACTION,
  RESOLVE_NOTE_BLOCK,
  resolveModal,
} from './blocks/incident-controls.js';
import type { IncidentResponse } from './incident-response.js';

export function registerIncidentActions(app: App, response: IncidentResponse, log: Logger): void {
  const guarded = async (
    what: string,
    reply: (text: string) => Promise<unknown>,
    fn: () => Promise<string>,
  ) => {
    try {
      await reply(await fn());
    } catch (err) {
      log.error({ err, action: what }, 'incident control failed');
      await reply(`Something went wrong with ${what}; nothing may have changed. See the bot log.`).catch(
        () => undefined,
      );
    }
  };
  const ephemeral =
    (
      respond: (m: { response_type: 'ephemeral'; replace_original: false; text: string }) => Promise<unknown>,
    ) =>
    (text: string) =>
      respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) =>
        log.warn({ err }, 'ephemeral reply failed'),
      );
  // The display name comes from the profile (real name), not the click's handle.
  const who = (body: { user: { id: string } }) => ({ id: body.user.id, name: null });

  app.action<BlockAction<ButtonAction>>(
    INCIDENT_CONTROL_ACTIONS.acknowledge,
    async ({ ack, body, action, respond }) => {
      await ack();
      await guarded('acknowledge', ephemeral(respond), () =>
        response.acknowledge(action.value ?? '', who(body)),
      );
    },
  );

  app.action<BlockAction<ButtonAction>>(
    INCIDENT_CONTROL_ACTIONS.escalate,
    async ({ ack, body, action, respond }) => {
      await ack();
      await guarded('escalate now', ephemeral(respond), () =>
        response.escalateNow(action.value ?? '', who(body)),
      );
    },
  );

  app.action<BlockAction<StaticSelectAction>>(
    INCIDENT_CONTROL_ACTIONS.snooze,
    async ({ ack, body, action, respond }) => {
      await ack();
      const key = keyOfControls(action.block_id) ?? '';
      const minutes = Number(action.selected_option?.value);
      await guarded('snooze', ephemeral(respond), () => response.snooze(key, who(body), minutes));
    },
  );

  app.action<BlockAction<UsersSelectAction>>(
    INCIDENT_CONTROL_ACTIONS.reassign,
    async ({ ack, body, action, respond }) => {
      await ack();
      const key = keyOfControls(action.block_id) ?? '';
      await guarded('reassign', ephemeral(respond), () =>
        response.reassign(key, who(body), action.selected_user),
      );
    },
  );

  // Resolve asks for a note first: a modal, opened with the click's trigger (valid for 3 s).
  app.action<BlockAction<ButtonAction>>(
    INCIDENT_CONTROL_ACTIONS.resolve,
    async ({ ack, body, action, client, respond }) => {
      await ack();
      const key = action.value ?? '';
      await guarded('resolve', ephemeral(respond), async () => {
        const firing = await response.firingAlerts(key);
        if (firing === null) return `${key} is not an incident I know.`;
        await client.views.open({ trigger_id: body.trigger_id, view: resolveModal(key, firing) });
        return 'Say what fixed it in the dialog; nothing changes until you press Resolve.';
      });
    },
  );

  app.view(RESOLVE_MODAL_CALLBACK, async ({ ack, body, view, client }) => {
    const key = view.private_metadata;
    const note = view.state.values[RESOLVE_NOTE_BLOCK]?.[RESOLVE_NOTE_ACTION]?.value ?? '';
    if (note.trim().length < 3) {
      await ack({
        response_action: 'errors',
        errors: { [RESOLVE_NOTE_BLOCK]: 'Say in a few words what fixed it.' },
      });
      return;
    }
    await ack();
    const where = await response.whereIs(key);
    const tell = async (text: string) => {
      if (!where) return;
      await client.chat.postEphemeral({
        channel: where.channel,
        user: body.user.id,
        text,
        ...(where.threadTs ? { thread_ts: where.threadTs } : {}),
      });
    };
    await guarded('resolve', tell, () => response.resolve(key, who(body), note));
  });
}
