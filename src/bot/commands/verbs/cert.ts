/** `/qnwis cert` (runbook "Certificate Renewal"): the tls-expiry diagnostic over the configured endpoints. */
import type { DiagnosticResult } from '../../../ops/diagnostics/types.js';
import type { CommandEnv } from '../env.js';
import { diagnose } from './diagnose.js';

export const CERT_RUNBOOK =
  'echo | openssl s_client -servername HOST -connect HOST:443 2>/dev/null | openssl x509 -noout -dates';

export function runCert(env: CommandEnv): Promise<DiagnosticResult[]> {
  return diagnose(env, [{ diagnostic: 'tls-expiry', target: 'fleet' }]);
}
