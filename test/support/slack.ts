/**
 * Reading and clicking in a Slack stand-in (src/dev/slack, its `/_local` inspection API), as a
 * person would: the messages of a channel, the replies in a thread, a click on an element.
 */
import { expect } from 'vitest';

export interface SlackMessage {
  channel: string;
  ts: string;
  thread_ts: string | null;
  text: string;
  blocks?: unknown[];
  /** Set on an ephemeral message: who saw it. */
  ephemeral_user?: string;
  files?: { id: string; name: string }[];
}

/** Every message of `channel` (name or id), ephemeral ones included, oldest first. */
export async function channelMessages(slackUrl: string, channel: string): Promise<SlackMessage[]> {
  const res = await fetch(
    `${slackUrl}/_local/messages?channel=${encodeURIComponent(channel)}&include_ephemeral=1`,
  );
  return (await res.json()) as SlackMessage[];
}

/** The texts of the replies under `parent` that everyone sees, oldest first. */
export async function threadReplies(slackUrl: string, parent: SlackMessage): Promise<string[]> {
  return (await channelMessages(slackUrl, parent.channel))
    .filter((m) => !m.ephemeral_user && m.thread_ts === parent.ts && m.ts !== parent.ts)
    .map((m) => m.text);
}

/**
 * Clicks the element `actionId` on the message as it is now (it may have been updated since it was
 * read), as `user`; `value` is what a select picks (a button sends its own). Expects Slack's
 * delivery to the bot to have succeeded.
 */
export async function clickAction(
  slackUrl: string,
  click: { user: string; channel: string; message: SlackMessage; actionId: string; value?: string },
): Promise<void> {
  const current =
    (await channelMessages(slackUrl, click.channel)).find((m) => m.ts === click.message.ts) ?? click.message;
  const block = (
    current.blocks as {
      type: string;
      block_id?: string;
      elements?: { action_id: string; value?: string }[];
    }[]
  ).find((b) => b.type === 'actions' && b.elements?.some((e) => e.action_id === click.actionId));
  const element = block?.elements?.find((e) => e.action_id === click.actionId);
  if (!block || !element)
    throw new Error(`no ${click.actionId} in ${JSON.stringify(current.blocks).slice(0, 300)}`);
  const res = await fetch(`${slackUrl}/_local/action`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      user: click.user,
      channel: click.channel,
      ts: current.ts,
      action_id: click.actionId,
      block_id: block.block_id,
      value: click.value ?? element.value,
    }),
  });
  expect(((await res.json()) as { status: number | null }).status).toBe(200);
}
