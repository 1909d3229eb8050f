/** Access to the running lab for tests: its inventory, credentials, hosts, and the webhook sink. */

import type { LabCredentials } from '../../lab/credentials.js';
import { Lab, type LabStatus } from '../../lab/lab.js';
import { type Inventory, loadInventory } from '../../src/inventory.js';

export const lab = new Lab();

export async function labStatus(): Promise<LabStatus> {
  return lab.status();
}

export function labInventory(): Inventory {
  return loadInventory(lab.inventory.source);
}

export async function labCredentials(): Promise<LabCredentials> {
  const { credentials } = await labStatus();
  if (!credentials) throw new Error('the lab has no credentials: is it up?');
  return credentials;
}

export interface AlertmanagerAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface AlertmanagerPayload {
  version: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerAlert[];
}

export interface Received {
  seq: number;
  receivedAt: string;
  authorized: boolean;
  headers: Record<string, string | undefined>;
  body: AlertmanagerPayload;
}

/** What Alertmanager delivered to the lab's webhook sink (it gets the same notifications as the bot). */
export class WebhookSink {
  readonly url = `http://${lab.sinkListen}`;

  async received(after = 0): Promise<Received[]> {
    const res = await fetch(`${this.url}/received?after=${after}`);
    return (await res.json()) as Received[];
  }

  async lastSeq(): Promise<number> {
    const all = await this.received();
    return all.at(-1)?.seq ?? 0;
  }

  /** Waits for a notification after `after` whose payload satisfies `match`. */
  async waitFor(
    match: (r: Received) => boolean,
    opts: { after: number; timeoutMs: number },
  ): Promise<Received> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const hit = (await this.received(opts.after)).find(match);
      if (hit) return hit;
      if (Date.now() > deadline) {
        const seen = (await this.received(opts.after)).map(
          (r) =>
            `${r.body.status}:${r.body.alerts.map((a) => `${a.labels.alertname}/${a.labels.host ?? '-'}/${a.status}`).join(',')}`,
        );
        throw new Error(
          `no matching notification within ${opts.timeoutMs} ms; received: ${seen.join(' | ') || 'nothing'}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
