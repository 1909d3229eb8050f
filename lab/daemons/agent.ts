/**
 * The lab agent: small services the lab needs that are not QNWIS itself.
 *
 * - A node-exporter stand-in per app host (`<address>:9100/metrics`): `node_memory_usage` is the
 *   real resident memory of the processes that belong to that simulated host (those carrying
 *   QNWIS_LAB_HOST=<name> in their environment, which every process started through the host's
 *   sshd or its systemctl inherits) divided by the host's memory budget. A real memory hog on the
 *   host therefore raises the metric for that host only.
 * - A webhook sink (`127.0.0.1:9097`) that Alertmanager notifies alongside the bot, recording every
 *   payload: tests assert on what Alertmanager really sent, and an operator can ask the lab
 *   "did Alertmanager send it?" without the bot.
 */
import { timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { hostsWithRole, loadInventory } from '../../src/inventory.js';

const env = z
  .object({
    LAB_INVENTORY: z.string().default('lab/inventory.yaml'),
    LAB_SINK_LISTEN: z.string().default('127.0.0.1:9097'),
    LAB_NODE_EXPORTER_PORT: z.coerce.number().int().default(9100),
    LAB_HOST_MEMORY_MB: z.coerce.number().int().positive().default(1024),
    LAB_WEBHOOK_TOKEN: z.string().min(1),
  })
  .parse(process.env);

const PAGE_SIZE = 4096;
const memoryTotalBytes = env.LAB_HOST_MEMORY_MB * 1024 * 1024;

interface ProcessSample {
  host: string;
  rssBytes: number;
}

let cache: { at: number; samples: ProcessSample[] } = { at: 0, samples: [] };

/** One pass over /proc; cached briefly because Prometheus scrapes every host every second. */
function sampleProcesses(): ProcessSample[] {
  if (Date.now() - cache.at < 500) return cache.samples;
  const samples: ProcessSample[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      const match = /(?:^|\0)QNWIS_LAB_HOST=([^\0]+)/.exec(environ);
      if (!match?.[1]) continue;
      const statm = readFileSync(`/proc/${entry}/statm`, 'utf8').split(' ');
      samples.push({ host: match[1], rssBytes: Number(statm[1] ?? 0) * PAGE_SIZE });
    } catch {
      // The process exited between readdir and read: it no longer uses memory.
    }
  }
  cache = { at: Date.now(), samples };
  return samples;
}

function nodeMetrics(host: string): string {
  const samples = sampleProcesses().filter((s) => s.host === host);
  const used = samples.reduce((sum, s) => sum + s.rssBytes, 0);
  const usage = Math.min(1, used / memoryTotalBytes);
  return [
    '# HELP node_memory_usage Fraction of the host memory in use (lab: RSS of the host processes / budget).',
    '# TYPE node_memory_usage gauge',
    `node_memory_usage ${usage.toFixed(4)}`,
    '# HELP node_memory_MemTotal_bytes Memory budget of the simulated host.',
    '# TYPE node_memory_MemTotal_bytes gauge',
    `node_memory_MemTotal_bytes ${memoryTotalBytes}`,
    '# HELP node_memory_used_bytes Resident memory of the processes on the simulated host.',
    '# TYPE node_memory_used_bytes gauge',
    `node_memory_used_bytes ${used}`,
    '# HELP node_processes Processes on the simulated host.',
    '# TYPE node_processes gauge',
    `node_processes ${samples.length}`,
    '',
  ].join('\n');
}

interface Received {
  seq: number;
  receivedAt: string;
  authorized: boolean;
  headers: Record<string, string | undefined>;
  body: unknown;
}

const received: Received[] = [];
let seq = 0;
const MAX_RECEIVED = 5000;

function tokenMatches(header: string | undefined): boolean {
  const expected = Buffer.from(`Bearer ${env.LAB_WEBHOOK_TOKEN}`);
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const sink = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://sink');
  if (req.method === 'POST' && url.pathname === '/webhooks/alertmanager') {
    readBody(req)
      .then((text) => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = { unparsable: text.slice(0, 1000) };
        }
        received.push({
          seq: ++seq,
          receivedAt: new Date().toISOString(),
          authorized: tokenMatches(req.headers.authorization),
          headers: { 'user-agent': req.headers['user-agent'], 'content-type': req.headers['content-type'] },
          body,
        });
        if (received.length > MAX_RECEIVED) received.splice(0, received.length - MAX_RECEIVED);
        json(res, 200, { ok: true });
      })
      .catch((err: unknown) => json(res, 500, { error: String(err) }));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/received') {
    const after = Number(url.searchParams.get('after') ?? 0);
    json(
      res,
      200,
      received.filter((r) => r.seq > after),
    );
    return;
  }
  if (req.method === 'GET' && url.pathname === '/health') {
    json(res, 200, { status: 'ok', received: received.length, lastSeq: seq });
    return;
  }
  json(res, 404, { error: 'not_found' });
});

const [sinkHost, sinkPort] = env.LAB_SINK_LISTEN.split(':');
sink.listen(Number(sinkPort), sinkHost);

const inventory = loadInventory(env.LAB_INVENTORY);
const exporters = hostsWithRole(inventory, 'app').map((host) => {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(nodeMetrics(host.name));
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  server.listen(env.LAB_NODE_EXPORTER_PORT, host.address);
  return server;
});

process.title = 'qnwis-lab-agent';
console.log(JSON.stringify({ ready: true, sink: env.LAB_SINK_LISTEN, exporters: exporters.length }));
const stop = () => {
  sink.close();
  for (const s of exporters) s.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
