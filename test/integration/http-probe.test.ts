/**
 * The HTTP probe client against a tiny real HTTP server on 127.0.0.1 (random port): success,
 * status errors, deadlines (before headers and mid-body), a closed port, and token hygiene.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HttpStatusError,
  HttpTimeoutError,
  HttpUnreachableError,
  InvalidArgumentError,
} from '../../src/errors.js';
import { checkHealth, getJson, postJson } from '../../src/ops/adapters/http.js';

const TOKEN = 'tok-3f9a1c77e2b54d0c';
let server: http.Server;
let base: string;
let closedPortUrl: string;
const seen: { path: string; authorization: string | undefined; contentType: string | undefined }[] = [];

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({
      path: url.pathname,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
    });
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      switch (url.pathname) {
        case '/health':
          return send(res, 200, { status: 'ok', version: '1.4.2' });
        case '/health/detailed':
          if (req.headers.authorization !== `Bearer ${TOKEN}`)
            return send(res, 401, { detail: 'unauthorized' });
          return send(res, 200, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });
        case '/unhealthy':
          return send(res, 503, { status: 'unhealthy', detail: 'x'.repeat(2000) });
        case '/echo':
          return send(res, 200, { received: JSON.parse(body || 'null') });
        case '/no-content':
          res.writeHead(204);
          return res.end();
        case '/leaky':
          // A misbehaving debug endpoint that echoes the credentials it got.
          return send(res, 500, `upstream said: got header ${req.headers.authorization}`, 'text/plain');
        case '/html':
          return send(res, 200, '<html>proxy error page</html>', 'text/html');
        case '/redirect':
          res.writeHead(302, { location: 'http://127.0.0.2:1/steal' });
          return res.end();
        case '/hang':
          return; // never answers
        case '/slow-body':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"status":'); // and never finishes
          return;
        default:
          return send(res, 404, { detail: 'not found' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // A port that was just free: bind, note it, close. Connecting to it is refused.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPortUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/health`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('getJson / postJson', () => {
  it('returns the parsed body and sends the bearer token only in the Authorization header', async () => {
    expect(await getJson(`${base}/health`)).toEqual({ status: 'ok', version: '1.4.2' });
    expect(await getJson(`${base}/health/detailed`, { bearerToken: TOKEN })).toMatchObject({ status: 'ok' });
    expect(seen.at(-1)).toMatchObject({ path: '/health/detailed', authorization: `Bearer ${TOKEN}` });
  });

  it('posts JSON', async () => {
    expect(await postJson(`${base}/echo`, { enabled: true, reason: 'deploy' })).toEqual({
      received: { enabled: true, reason: 'deploy' },
    });
    expect(seen.at(-1)?.contentType).toBe('application/json');
    expect(await postJson(`${base}/no-content`, {})).toBeNull();
  });

  it('a non-2xx answer is an HttpStatusError with the status and at most 500 characters of body', async () => {
    const err = await getJson(`${base}/unhealthy`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect(err).toMatchObject({
      code: 'http_status',
      status: 503,
      transient: true,
      url: `${base}/unhealthy`,
    });
    const excerpt = (err as HttpStatusError).bodyExcerpt;
    expect(excerpt).toHaveLength(500);
    expect(excerpt.startsWith('{"status":"unhealthy"')).toBe(true);

    const denied = await getJson(`${base}/health/detailed`).catch((e: unknown) => e);
    expect(denied).toMatchObject({ status: 401, transient: false });
    await expect(getJson(`${base}/missing`)).rejects.toMatchObject({ status: 404, transient: false });
  });

  it('never puts the token (or a query string) into an error', async () => {
    const err = await getJson(`${base}/leaky?access_token=${TOKEN}`, { bearerToken: TOKEN }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HttpStatusError);
    const e = err as HttpStatusError;
    expect(e.status).toBe(500);
    expect(e.url).toBe(`${base}/leaky`);
    expect(e.bodyExcerpt).toContain('Bearer [redacted]');
    expect(`${e.message} ${e.bodyExcerpt} ${e.url} ${JSON.stringify(e)}`).not.toContain(TOKEN);

    const timeout = await getJson(`${base}/hang?token=${TOKEN}`, {
      bearerToken: TOKEN,
      timeoutMs: 100,
    }).catch((x: unknown) => x);
    expect(String((timeout as Error).message)).not.toContain(TOKEN);
  });

  it('does not follow redirects (the token must not travel to another origin)', async () => {
    await expect(getJson(`${base}/redirect`, { bearerToken: TOKEN })).rejects.toMatchObject({ status: 302 });
  });

  it('a 2xx that is not JSON is reported, not returned', async () => {
    await expect(getJson(`${base}/html`)).rejects.toThrow(/expected JSON: <html>proxy error page/);
  });

  it('times out within the deadline when no response comes', async () => {
    const t0 = performance.now();
    const err = await getJson(`${base}/hang`, { timeoutMs: 300 }).catch((e: unknown) => e);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(HttpTimeoutError);
    expect(err).toMatchObject({ code: 'http_timeout', transient: true, timeoutMs: 300 });
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(800);
  });

  it('the deadline also covers a body that stops halfway', async () => {
    const t0 = performance.now();
    await expect(getJson(`${base}/slow-body`, { timeoutMs: 300 })).rejects.toBeInstanceOf(HttpTimeoutError);
    expect(performance.now() - t0).toBeLessThan(800);
  });

  it('a closed port is unreachable (transient), at once', async () => {
    const t0 = performance.now();
    const err = await getJson(closedPortUrl, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpUnreachableError);
    expect(err).toMatchObject({ code: 'http_unreachable', transient: true });
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('refuses what is not an http(s) URL before sending anything', async () => {
    await expect(getJson('file:///etc/passwd')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(getJson('not a url')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(getJson(`${base}/health`, { bearerToken: 'a\r\nX-Evil: 1' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});

describe('checkHealth', () => {
  it('healthy: ok, status, latency, parsed body', async () => {
    const r = await checkHealth(`${base}/health`);
    expect(r).toMatchObject({ ok: true, status: 200, body: { status: 'ok', version: '1.4.2' } });
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    expect(r.latencyMs).toBeLessThan(1_000);
  });

  it('unhealthy: the status and what the body said', async () => {
    const r = await checkHealth(`${base}/unhealthy`);
    expect(r).toMatchObject({ ok: false, status: 503 });
    expect(String(r.body)).toMatch(/^\{"status":"unhealthy"/); // cut at 500 chars, so kept as text
  });

  it('no answer in time: a result, not an exception', async () => {
    const t0 = performance.now();
    const r = await checkHealth(`${base}/hang`, { timeoutMs: 250 });
    expect(r).toMatchObject({ ok: false, status: null, error: { code: 'http_timeout' } });
    expect(performance.now() - t0).toBeLessThan(800);
  });

  it('closed port: a result, not an exception', async () => {
    expect(await checkHealth(closedPortUrl)).toMatchObject({
      ok: false,
      status: null,
      error: { code: 'http_unreachable' },
    });
  });
});
