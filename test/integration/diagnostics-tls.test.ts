/**
 * tls-expiry against real TLS servers on loopback, with certificates made by openssl for this test
 * (10 and 90 days): days left, the warn threshold, an endpoint that refuses, one that never
 * completes a handshake, and the injected clock.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, parseInventory } from '../../src/inventory.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import { createDiagnosticContext, runDiagnostics } from '../../src/ops/diagnostics/index.js';
import type { TlsExpiryData } from '../../src/ops/diagnostics/tls-expiry.js';
import { labInventory } from '../support/lab.js';

let dir: string;
const servers: (Server | TcpServer)[] = [];
const held: Socket[] = [];
let inventory: Inventory;
const ports = { short: 0, long: 0, refused: 0, silent: 0 };
const adapters = {
  ssh: new SshRunner(),
  db: undefined as FleetDatabase | undefined,
  cache: undefined as FleetCache | undefined,
};

function certificate(days: number): { key: Buffer; cert: Buffer } {
  const key = path.join(dir, `key-${days}.pem`);
  const cert = path.join(dir, `cert-${days}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      String(days),
      '-subj',
      '/CN=localhost/O=QNWIS lab',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

async function listen(server: Server | TcpServer): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'qnwis-tls-'));
  ports.short = await listen(createServer(certificate(10)));
  ports.long = await listen(createServer(certificate(90)));
  // A port nothing listens on any more.
  const probe = createTcpServer();
  ports.refused = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  servers.splice(servers.indexOf(probe), 1);
  // Accepts TCP, never speaks TLS.
  ports.silent = await listen(createTcpServer((socket) => held.push(socket)));

  const base = labInventory();
  // This test's own endpoints replace the lab's (its load balancer's :443).
  const yaml = readFileSync(base.source, 'utf8')
    .replace(/^ {2}tls_endpoints:.*\n/m, '')
    .replace(
      /^monitoring:\n/m,
      `monitoring:\n  tls_endpoints: ["localhost:${ports.short}", "127.0.0.1:${ports.long}", "127.0.0.1:${ports.refused}", "127.0.0.1:${ports.silent}"]\n`,
    );
  inventory = parseInventory(yaml, base.source);
  adapters.db = new FleetDatabase({ database: inventory.database, password: undefined });
  adapters.cache = new FleetCache({ cache: inventory.cache, password: undefined });
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  await Promise.all([adapters.ssh.close(), adapters.db?.close(), adapters.cache?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function ctx(now?: () => Date) {
  if (!adapters.db || !adapters.cache) throw new Error('not set up');
  return createDiagnosticContext({
    inventory,
    ssh: adapters.ssh,
    db: adapters.db,
    cache: adapters.cache,
    stepTimeoutMs: 2_000,
    ...(now ? { now } : {}),
  });
}

describe('tls-expiry', () => {
  it('reads every configured endpoint: days left, warn under 14 days, refused and silent ones named', async () => {
    const started = Date.now();
    const [r] = await runDiagnostics(ctx(), [{ diagnostic: 'tls-expiry', target: 'fleet' }]);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(r?.status).toBe('error');
    const data = r?.data as TlsExpiryData;
    const by = (port: number) => data.endpoints.find((e) => e.endpoint.endsWith(`:${port}`));
    expect(by(ports.short)).toMatchObject({
      status: 'warn',
      subject: 'CN=localhost, O=QNWIS lab',
      trusted: false,
      hostnameMatches: true,
    });
    expect(by(ports.short)?.daysLeft).toBeGreaterThanOrEqual(9);
    expect(by(ports.short)?.daysLeft).toBeLessThanOrEqual(10);
    expect(by(ports.short)?.trustError).toMatch(/SELF_SIGNED/);
    expect(by(ports.long)).toMatchObject({ status: 'ok' });
    expect(by(ports.long)?.daysLeft).toBeGreaterThanOrEqual(89);
    expect(by(ports.refused)).toMatchObject({
      status: 'unreachable',
      error: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(by(ports.silent)).toMatchObject({
      status: 'timeout',
      error: expect.stringMatching(/no TLS handshake within/),
    });
    expect(r?.summary).toMatch(/^fleet: /);
    expect(r?.summary).toContain(`localhost:${ports.short} certificate expires in`);
    expect(r?.summary).toContain(`127.0.0.1:${ports.refused} unreachable: ECONNREFUSED`);
  });

  it('one endpoint on request; only configured endpoints are probed', async () => {
    const [one, other] = await runDiagnostics(ctx(), [
      { diagnostic: 'tls-expiry', target: 'fleet', input: { endpoint: `127.0.0.1:${ports.long}` } },
      { diagnostic: 'tls-expiry', target: 'fleet', input: { endpoint: 'example.org:443' } },
    ]);
    expect(one?.status).toBe('ok');
    expect(one?.summary).toMatch(
      new RegExp(
        `^fleet: 127\\.0\\.0\\.1:${ports.long} certificate expires in (89|90) days \\(\\d{4}-\\d{2}-\\d{2}\\)$`,
      ),
    );
    expect(other).toMatchObject({
      status: 'error',
      summary: 'fleet: example.org:443 is not a configured TLS endpoint',
    });
  });

  it('judges with the injected clock: 80 days on, the 90-day certificate is due', async () => {
    const later = () => new Date(Date.now() + 80 * 86_400_000);
    const [r] = await runDiagnostics(ctx(later), [
      { diagnostic: 'tls-expiry', target: 'fleet', input: { endpoint: `127.0.0.1:${ports.long}` } },
    ]);
    expect(r?.status).toBe('warn');
    expect((r?.data as TlsExpiryData | undefined)?.endpoints[0]?.daysLeft).toBeLessThanOrEqual(10);
  });

  it('an endpoint that never handshakes alone is a timeout, within the deadline', async () => {
    const started = Date.now();
    const [r] = await runDiagnostics(ctx(), [
      { diagnostic: 'tls-expiry', target: 'fleet', input: { endpoint: `127.0.0.1:${ports.silent}` } },
    ]);
    expect(r?.status).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
