/**
 * The playbook job: when an incident opens, run its alert's diagnostics in parallel against the
 * real hosts, record the verdict and the proposed fixes, and let the Slack job tell the thread.
 * Read-only and idempotent: a retry runs the (read-only) diagnostics again.
 */
import { performance } from 'node:perf_hooks';
import { type Job, UnrecoverableError } from 'bullmq';
import { affectedHosts } from '../incidents/incident.js';
import type { Inventory } from '../inventory.js';
import type { Logger } from '../observability/logger.js';
import { playbookSeconds } from '../observability/metrics.js';
import type { DiagnosticContext, DiagnosticResult } from '../ops/diagnostics/types.js';
import { type DiagnosticRequest, playbookFor, proposeActions, verdictOf } from '../ops/playbooks.js';
import type { IncidentStore } from '../store/incidents.js';
import { diagnoseJobs, enqueueIncidentSync, type Queues } from './queues.js';

export type RunDiagnostics = (
  ctx: DiagnosticContext,
  requests: DiagnosticRequest[],
) => Promise<DiagnosticResult[]>;

export interface DiagnoseDeps {
  store: IncidentStore;
  queues: Queues;
  inventory: Inventory;
  context: DiagnosticContext;
  runDiagnostics: RunDiagnostics;
  log: Logger;
}

export function createDiagnoseProcessor(deps: DiagnoseDeps) {
  return async function process(job: Job): Promise<{ verdict: string; durationMs: number }> {
    const { incidentId } = diagnoseJobs['incident-playbook'].parse(job.data);
    const log = deps.log.child({ jobId: job.id, incidentId });
    const row = await deps.store.get(incidentId);
    if (!row) throw new UnrecoverableError(`incident ${incidentId} does not exist`);
    const alerts = await deps.store.alerts(incidentId);
    const hosts = affectedHosts({ alerts: new Map(alerts.map((a) => [a.fingerprint, a])) });
    const input = { alertname: row.alertname, hosts: [...hosts.firing, ...hosts.resolved] };
    const playbook = playbookFor(input, deps.inventory);
    const started = performance.now();
    const results = await deps.runDiagnostics(deps.context, [...playbook.diagnostics]);
    const durationMs = Math.round(performance.now() - started);
    playbookSeconds.observe({ playbook: playbook.name }, durationMs / 1000);
    const verdict = verdictOf(results);
    const actions = proposeActions(input, results, deps.inventory);
    await deps.store.recordDiagnosis(incidentId, {
      playbook: playbook.name,
      runbook: playbook.runbook,
      verdict,
      actions,
      results: results.map(capResult),
      durationMs,
    });
    await enqueueIncidentSync(deps.queues, incidentId, row.severity);
    log.info({ playbook: playbook.name, checks: results.length, durationMs, verdict }, 'playbook ran');
    return { verdict, durationMs };
  };
}

/** Results go into the timeline: keep each one's evidence bounded. */
function capResult(r: DiagnosticResult): DiagnosticResult {
  const json = JSON.stringify(r.data ?? null);
  if (json.length <= 20_000) return r;
  return { ...r, data: { truncated: true, note: `evidence of ${json.length} bytes dropped` } };
}
