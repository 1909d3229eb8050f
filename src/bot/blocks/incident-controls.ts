/**
 * The on-call's controls under an incident message (issue 7): Acknowledge, Resolve (a modal asks for
 * the note), Escalate now (with a confirmation), Snooze reminders (bounded choices) and Reassign (a
 * person picker). Pure: view in, blocks out. Each element carries only the incident key; the
 * handlers (src/bot/incident-actions.ts) read the incident as it is when the click arrives.
 */
import type { ActionsBlock, Button, KnownBlock, ModalView, StaticSelect, UsersSelect } from '@slack/web-api';
import { SLACK_LIMITS } from './limits.js';
import { escapeTruncate, mrkdwn, oneLine, plain } from './text.js';
import type { IncidentView } from './view.js';

export const INCIDENT_CONTROL_ACTIONS = {
  acknowledge: 'incident.ack',
  resolve: 'incident.resolve',
  escalate: 'incident.escalate',
  snooze: 'incident.snooze',
  reassign: 'incident.reassign',
} as const;

export const RESOLVE_MODAL_CALLBACK = 'incident.resolve.submit';
export const RESOLVE_NOTE_BLOCK = 'resolve.note';
export const RESOLVE_NOTE_ACTION = 'note';

/** Snooze lengths offered, minutes; the escalation policy's maximum still decides (evaluateSnooze). */
export const SNOOZE_CHOICES = [15, 30, 60, 120] as const;

const label = (minutes: number) => (minutes < 60 ? `${minutes} min` : `${minutes / 60} h`);

/** The controls block for an open incident; none once it is resolved. */
export function incidentControls(view: IncidentView): ActionsBlock[] {
  if (view.status === 'resolved') return [];
  const value = view.key.slice(0, SLACK_LIMITS.buttonValue);
  const elements: (Button | StaticSelect | UsersSelect)[] = [];
  if (view.status === 'firing')
    elements.push({
      type: 'button',
      action_id: INCIDENT_CONTROL_ACTIONS.acknowledge,
      text: plain('Acknowledge', SLACK_LIMITS.buttonText),
      style: 'primary',
      value,
    });
  elements.push({
    type: 'button',
    action_id: INCIDENT_CONTROL_ACTIONS.resolve,
    text: plain('Resolve…', SLACK_LIMITS.buttonText),
    value,
  });
  elements.push({
    type: 'button',
    action_id: INCIDENT_CONTROL_ACTIONS.escalate,
    text: plain('Escalate now', SLACK_LIMITS.buttonText),
    style: 'danger',
    value,
    confirm: {
      title: plain('Escalate now?', 100),
      text: mrkdwn(
        `Page the next level of the escalation path for *${escapeTruncate(oneLine(view.key), 64)}* now, before the runbook's clock would.`,
      ),
      confirm: plain('Escalate', 30),
      deny: plain('Cancel', 30),
    },
  });
  // Selects carry no incident of their own: the block id names it (when the key fits in one).
  const blockId = `incident.controls|${view.key}`;
  const fits = blockId.length <= SLACK_LIMITS.blockId;
  if (fits && view.status === 'acknowledged')
    elements.push({
      type: 'static_select',
      action_id: INCIDENT_CONTROL_ACTIONS.snooze,
      placeholder: plain('Snooze reminders', 150),
      options: SNOOZE_CHOICES.map((m) => ({ text: plain(label(m), 75), value: String(m) })),
    });
  if (fits)
    elements.push({
      type: 'users_select',
      action_id: INCIDENT_CONTROL_ACTIONS.reassign,
      placeholder: plain('Reassign to…', 150),
    });
  return [{ type: 'actions', ...(fits ? { block_id: blockId } : {}), elements }];
}

/** The incident key an element of the controls block belongs to (users_select carries no value). */
export function keyOfControls(blockId: string | undefined): string | null {
  const m = /^incident\.controls\|(.+)$/.exec(blockId ?? '');
  return m?.[1] ?? null;
}

/** "Resolve QNWIS-12": asks for the note every resolution by hand needs. */
export function resolveModal(key: string, alertsFiring: number): ModalView {
  const warning =
    alertsFiring > 0
      ? `\n⚠️ ${alertsFiring} alert${alertsFiring === 1 ? ' is' : 's are'} still firing: if Alertmanager keeps firing it, the incident opens again.`
      : '';
  const blocks: KnownBlock[] = [
    {
      type: 'section',
      text: mrkdwn(
        `Resolve *${escapeTruncate(oneLine(key), 64)}* by hand. The note goes in the thread, PagerDuty and the post-mortem.${warning}`,
      ),
    },
    {
      type: 'input',
      block_id: RESOLVE_NOTE_BLOCK,
      label: plain('What fixed it?', 2000),
      element: {
        type: 'plain_text_input',
        action_id: RESOLVE_NOTE_ACTION,
        multiline: true,
        min_length: 3,
        max_length: 3000,
      },
    },
  ];
  return {
    type: 'modal',
    callback_id: RESOLVE_MODAL_CALLBACK,
    private_metadata: key,
    title: plain('Resolve incident', 24),
    submit: plain('Resolve', 24),
    close: plain('Cancel', 24),
    blocks,
  };
}
