/**
 * The chart job: once an incident's message is in Slack, plot the alerting metric over the last
 * hour (Prometheus query_range of the alert's expression, from its generatorURL) and upload the
 * PNG into the incident's thread with Slack's external-upload flow.
 */
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { alertChart } from '../bot/charts/alert-chart.js';
import type { ChatClient } from '../bot/chat.js';
import { PrometheusUnavailableError, SlackRateLimitedError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { RangeQuerier } from '../ops/prometheus.js';
import type { IncidentStore } from '../store/incidents.js';
import type { ChannelPacer } from './pacing.js';
import { diagnoseJobs } from './queues.js';

export interface ChartDeps {
  store: IncidentStore;
  chat: ChatClient;
  pacer: ChannelPacer;
  prometheus: RangeQuerier | null;
  log: Logger;
  now?: () => Date;
}

export function createChartProcessor(deps: ChartDeps) {
  const now = deps.now ?? (() => new Date());
  const later = async (job: Job, token: string | undefined, ms: number): Promise<never> => {
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  };
  return async function process(job: Job, token?: string): Promise<string> {
    const { incidentId } = diagnoseJobs['incident-chart'].parse(job.data);
    const log = deps.log.child({ jobId: job.id, incidentId });
    if (!deps.prometheus) return 'no Prometheus configured';
    const row = await deps.store.get(incidentId);
    if (!row) throw new UnrecoverableError(`incident ${incidentId} does not exist`);
    // A storm digest has no thread of its own for a chart.
    if (row.digestId) return 'in a storm digest: no chart';
    if (!row.slackTs) return later(job, token, 1000);
    const alerts = await deps.store.alerts(incidentId);
    const generatorUrl = alerts.find((a) => a.generatorURL)?.generatorURL;
    if (!generatorUrl) return 'no generatorURL: no chart';
    const host = alerts.find((a) => a.labels.host)?.labels.host;
    let chart: Awaited<ReturnType<typeof alertChart>>;
    try {
      chart = await alertChart({
        prometheus: deps.prometheus,
        generatorUrl,
        title: `${row.alertname}${host && alerts.length === 1 ? ` on ${host}` : ''}`,
        now: now(),
      });
    } catch (err) {
      if (err instanceof PrometheusUnavailableError) return later(job, token, 5000);
      throw err;
    }
    if (!chart) return 'no expression in the generatorURL';
    const channel = row.slackChannelId ?? row.channel;
    const wait = await deps.pacer.take(channel);
    if (wait > 0) return later(job, token, wait);
    try {
      await deps.chat.uploadFile(
        channel,
        {
          filename: chart.filename,
          title: `${row.alertname}, last hour`,
          content: chart.png,
          altText: chart.altText,
        },
        row.slackTs,
      );
    } catch (err) {
      if (err instanceof SlackRateLimitedError) {
        await deps.pacer.blockFor(channel, err.retryAfterSec * 1000);
        return later(job, token, err.retryAfterSec * 1000);
      }
      throw err;
    }
    log.info({ filename: chart.filename }, 'chart posted');
    return chart.filename;
  };
}
