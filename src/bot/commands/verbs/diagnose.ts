/**
 * Runs diagnostics for a verb and always answers with one result per request: if the runner itself
 * fails (a bug, not a host problem), each request becomes an `error` result saying so, and the
 * failure is logged with the command's reference.
 */
import type { DiagnosticResult } from '../../../ops/diagnostics/types.js';
import type { CommandEnv, DiagnosticRequest } from '../env.js';

export async function diagnose(
  env: CommandEnv,
  requests: readonly DiagnosticRequest[],
): Promise<DiagnosticResult[]> {
  if (requests.length === 0) return [];
  const started = performance.now();
  let results: readonly DiagnosticResult[];
  try {
    results = await env.runDiagnostics(env.diagnostics, [...requests]);
  } catch (err) {
    env.log.error({ err, requests }, 'diagnostics failed to run');
    const durationMs = Math.round(performance.now() - started);
    return requests.map((r) => ({
      diagnostic: r.diagnostic,
      target: r.target,
      status: 'error',
      summary: 'the diagnostic could not run',
      error: 'the diagnostic could not run (see the bot log)',
      durationMs,
    }));
  }
  // Match by (diagnostic, target) so the order the runner returns does not matter.
  const pool = [...results];
  return requests.map((r) => {
    const i = pool.findIndex((x) => x.diagnostic === r.diagnostic && x.target === r.target);
    if (i >= 0) return pool.splice(i, 1)[0] as DiagnosticResult;
    return {
      diagnostic: r.diagnostic,
      target: r.target,
      status: 'error',
      summary: 'no result',
      error: 'the diagnostic returned no result',
      durationMs: Math.round(performance.now() - started),
    };
  });
}
