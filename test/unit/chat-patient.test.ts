/**
 * PatientChatClient: the approval message or a progress line must not be lost to a Slack 429; it
 * waits the Retry-After and tries again, a bounded number of times, and nothing else is retried.
 */
import { describe, expect, it } from 'vitest';
import { type ChatClient, PatientChatClient, type PostedMessage } from '../../src/bot/chat.js';
import { SlackRateLimitedError, SlackRejectedError } from '../../src/errors.js';

function flaky(failures: Error[]): { client: ChatClient; calls: () => number } {
  let calls = 0;
  const post = async (): Promise<PostedMessage> => {
    calls++;
    const err = failures.shift();
    if (err) throw err;
    return { channel: 'C1', ts: '1.000100' } as PostedMessage;
  };
  const client: ChatClient = {
    postMessage: post,
    updateMessage: async () => {
      await post();
    },
    permalink: async () => null,
    uploadFile: async () => {
      throw new Error('not used');
    },
  };
  return { client, calls: () => calls };
}

const limited = () => new SlackRateLimitedError('chat.postMessage', 1);

describe('PatientChatClient', () => {
  it('waits out 429s and delivers', async () => {
    const { client, calls } = flaky([limited(), limited()]);
    const patient = new PatientChatClient(client, { maxWaitMs: 5 });
    await expect(patient.postMessage('C1', { text: 'x' })).resolves.toMatchObject({ ts: '1.000100' });
    expect(calls()).toBe(3);
  });

  it('gives up after the last attempt with the rate-limit error', async () => {
    const { client, calls } = flaky([limited(), limited(), limited()]);
    const patient = new PatientChatClient(client, { attempts: 3, maxWaitMs: 5 });
    await expect(patient.updateMessage('C1', '1.0', { text: 'x' })).rejects.toBeInstanceOf(
      SlackRateLimitedError,
    );
    expect(calls()).toBe(3);
  });

  it('never retries a refusal', async () => {
    const { client, calls } = flaky([new SlackRejectedError('chat.postMessage', 'invalid_blocks')]);
    const patient = new PatientChatClient(client, { maxWaitMs: 5 });
    await expect(patient.postMessage('C1', { text: 'x' })).rejects.toBeInstanceOf(SlackRejectedError);
    expect(calls()).toBe(1);
  });
});
