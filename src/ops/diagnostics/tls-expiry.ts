/**
 * tls-expiry — runbook "Certificate Renewal", step 1 (`openssl s_client … | openssl x509 -noout
 * -dates`): for each `inventory.monitoring.tls_endpoints` host:port, a TLS handshake that reads the
 * served certificate's dates. The chain is not trusted or rejected here (rejectUnauthorized: false):
 * we read the dates of whatever is served, and report separately whether it would validate.
 */
import { isIP } from 'node:net';
import { checkServerIdentity, connect, type PeerCertificate } from 'node:tls';
import { z } from 'zod';
import { diagnose, FLEET, oneLine, plural, worst } from './common.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'tls-expiry';
const DAY_MS = 86_400_000;

export const tlsExpiryInput = z.strictObject({
  /** Always the fleet: the endpoints come from the inventory. */
  target: z.literal(FLEET).optional(),
  /** Only this configured endpoint ("host:port"); default: all of them. */
  endpoint: z
    .string()
    .max(260)
    .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be "host:port"')
    .optional(),
  warnDays: z.number().int().min(1).max(365).default(14),
  errorDays: z.number().int().min(0).max(365).default(3),
});

export interface TlsEndpointReport {
  readonly endpoint: string;
  readonly status: DiagnosticStatus;
  readonly notBefore?: string;
  readonly notAfter?: string;
  /** Whole days until notAfter (negative once expired). */
  readonly daysLeft?: number;
  readonly subject?: string;
  readonly issuer?: string;
  readonly subjectAltName?: string;
  readonly fingerprint256?: string;
  /** Whether the chain validates against the bot's trust store (informational). */
  readonly trusted?: boolean;
  readonly trustError?: string;
  /** Whether the certificate names the endpoint's host (informational). */
  readonly hostnameMatches?: boolean;
  /** Why no certificate was read. */
  readonly error?: string;
}

export interface TlsExpiryData {
  readonly endpoints: readonly TlsEndpointReport[];
}

/** Expired or fewer than `errorDays` left → error; fewer than `warnDays` → warn. */
export function judgeExpiry(
  notAfter: Date,
  now: Date,
  warnDays: number,
  errorDays: number,
): { status: DiagnosticStatus; daysLeft: number } {
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  if (daysLeft < errorDays) return { status: 'error', daysLeft };
  return { status: daysLeft < warnDays ? 'warn' : 'ok', daysLeft };
}

interface Handshake {
  readonly cert: PeerCertificate;
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
}

class TlsProbeError extends Error {
  readonly status: DiagnosticStatus;
  constructor(message: string, status: DiagnosticStatus) {
    super(message);
    this.name = 'TlsProbeError';
    this.status = status;
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
]);

/** One TLS handshake with a hard deadline; resolves with the leaf certificate. */
export function fetchCertificate(host: string, port: number, timeoutMs: number): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = connect({
      host,
      port,
      // SNI must be a name: RFC 6066 forbids IP literals (Node warns and drops them).
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
    });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new TlsProbeError(`no TLS handshake within ${timeoutMs} ms`, 'timeout'))),
      timeoutMs,
    );
    socket.on('error', (err: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          new TlsProbeError(
            err.code ? `${err.code}: ${err.message}` : err.message,
            err.code && UNREACHABLE_CODES.has(err.code) ? 'unreachable' : 'error',
          ),
        ),
      );
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const authorizationError = socket.authorizationError ? String(socket.authorizationError) : undefined;
      const authorized = socket.authorized;
      finish(() => {
        if (!cert || Object.keys(cert).length === 0) {
          reject(new TlsProbeError('the server presented no certificate', 'error'));
        } else {
          resolve({ cert, authorized, authorizationError });
        }
      });
    });
  });
}

function name(rec: Readonly<Record<string, string | string[] | undefined>> | undefined): string | undefined {
  if (!rec) return undefined;
  const cn = rec.CN;
  const o = rec.O;
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  return (
    [first(cn) && `CN=${first(cn)}`, first(o) && `O=${first(o)}`].filter(Boolean).join(', ') || undefined
  );
}

async function probeEndpoint(
  endpoint: string,
  now: Date,
  timeoutMs: number,
  warnDays: number,
  errorDays: number,
): Promise<TlsEndpointReport> {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon);
  const port = Number(endpoint.slice(colon + 1));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    return { endpoint, status: 'error', error: 'not a host:port endpoint' };
  }
  try {
    const { cert, authorized, authorizationError } = await fetchCertificate(host, port, timeoutMs);
    const notAfter = new Date(cert.valid_to);
    const notBefore = new Date(cert.valid_from);
    if (Number.isNaN(notAfter.getTime())) {
      return { endpoint, status: 'error', error: `unreadable notAfter "${cert.valid_to}"` };
    }
    const { status, daysLeft } = judgeExpiry(notAfter, now, warnDays, errorDays);
    const subject = name(cert.subject as unknown as Record<string, string>);
    const issuer = name(cert.issuer as unknown as Record<string, string>);
    return {
      endpoint,
      status,
      notAfter: notAfter.toISOString(),
      ...(Number.isNaN(notBefore.getTime()) ? {} : { notBefore: notBefore.toISOString() }),
      daysLeft,
      ...(subject ? { subject } : {}),
      ...(issuer ? { issuer } : {}),
      ...(cert.subjectaltname ? { subjectAltName: cert.subjectaltname } : {}),
      ...(cert.fingerprint256 ? { fingerprint256: cert.fingerprint256 } : {}),
      trusted: authorized,
      ...(authorizationError ? { trustError: authorizationError } : {}),
      hostnameMatches: checkServerIdentity(host, cert) === undefined,
    };
  } catch (err) {
    const status = err instanceof TlsProbeError ? err.status : 'error';
    return { endpoint, status, error: oneLine(err instanceof Error ? err.message : String(err), 300) };
  }
}

function describe(r: TlsEndpointReport): string {
  if (r.error) return `${r.endpoint} ${r.status === 'ok' ? '' : `${r.status}: `}${r.error}`;
  const date = r.notAfter?.slice(0, 10) ?? '?';
  const days = r.daysLeft ?? 0;
  if (days < 0) return `${r.endpoint} certificate EXPIRED ${plural(-days, 'day')} ago (${date})`;
  return `${r.endpoint} certificate expires in ${plural(days, 'day')} (${date})`;
}

export const tlsExpiry: Diagnostic<typeof tlsExpiryInput, TlsExpiryData> = {
  name: NAME,
  title: 'TLS certificate expiry',
  runbook:
    'echo | openssl s_client -servername HOST -connect HOST:PORT 2>/dev/null | openssl x509 -noout -dates',
  input: tlsExpiryInput,
  run(ctx, input) {
    return diagnose(NAME, FLEET, async () => {
      const configured = ctx.inventory.monitoring.tlsEndpoints;
      let endpoints = [...configured];
      if (input.endpoint !== undefined) {
        if (!configured.includes(input.endpoint)) {
          return {
            status: 'error',
            summary: oneLine(`${FLEET}: ${input.endpoint} is not a configured TLS endpoint`),
            error: 'only monitoring.tls_endpoints from the inventory are probed',
          };
        }
        endpoints = [input.endpoint];
      }
      if (endpoints.length === 0) {
        return { status: 'ok', summary: `${FLEET}: no TLS endpoints configured`, data: { endpoints: [] } };
      }
      const now = ctx.now();
      const timeoutMs = Math.max(500, Math.min(3_000, ctx.stepTimeoutMs - 500));
      const reports = await Promise.all(
        endpoints.map((e) => probeEndpoint(e, now, timeoutMs, input.warnDays, input.errorDays)),
      );
      // One endpoint that cannot be reached is a problem of the fleet ("error"); all of them is "unreachable".
      const status = reports.reduce<DiagnosticStatus>(
        (s, r) => worst(s, r.status === 'unreachable' || r.status === 'timeout' ? 'error' : r.status),
        'ok',
      );
      // The soonest expiry (or a failure) first: that is what the on-call must act on.
      const ordered = [...reports].sort(
        (a, b) =>
          Number(b.status !== 'ok') - Number(a.status !== 'ok') ||
          (a.daysLeft ?? Number.NEGATIVE_INFINITY) - (b.daysLeft ?? Number.NEGATIVE_INFINITY),
      );
      const [first, ...rest] = ordered;
      const others =
        rest.length > 0
          ? `; ${plural(rest.length, 'other endpoint')} ${rest.every((r) => r.status === 'ok') ? 'fine' : `: ${rest.map(describe).join('; ')}`}`
          : '';
      const summary = `${FLEET}: ${first ? describe(first) : ''}${others}`;
      // No endpoint answered at all: that is "unreachable" (or "timeout"), not a certificate problem.
      const overall: DiagnosticStatus = reports.every((r) => r.status === 'timeout')
        ? 'timeout'
        : reports.every((r) => r.status === 'unreachable' || r.status === 'timeout')
          ? 'unreachable'
          : status;
      return { status: overall, summary: oneLine(summary, 400), data: { endpoints: reports } };
    });
  },
};
