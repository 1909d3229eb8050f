/**
 * Prometheus and Alertmanager as plain processes (LAB-NOTES: ready in ~6 s; 1 s scrape and
 * evaluation; group_wait 1 s / group_interval 2 s so a fault reaches the bot in seconds).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Host } from '../../src/inventory.js';
import { httpOk, spawnDetached, waitFor } from '../process.js';

export interface PrometheusOptions {
  dir: string;
  listen: string;
  rulesFile: string;
  alertmanager: string;
  appHosts: Host[];
  appPort: number;
  nodeExporterPort: number;
}

export function prometheusConfig(opts: PrometheusOptions): string {
  const perHost = (port: number) =>
    opts.appHosts.map((h) => ({ targets: [`${h.address}:${port}`], labels: { host: h.name } }));
  return stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '900ms' },
    rule_files: [opts.rulesFile],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager] }] }] },
    scrape_configs: [
      { job_name: 'qnwis', static_configs: perHost(opts.appPort) },
      { job_name: 'node', static_configs: perHost(opts.nodeExporterPort) },
      { job_name: 'prometheus', static_configs: [{ targets: [opts.listen] }] },
    ],
  });
}

function writePrometheusConfig(opts: PrometheusOptions): string {
  mkdirSync(path.join(opts.dir, 'data'), { recursive: true });
  const configFile = path.join(opts.dir, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(opts));
  return configFile;
}

/** Rewrites the config of a running server and asks it to reload (both enable /-/reload). */
async function reload(listen: string, what: string): Promise<void> {
  const res = await fetch(`http://${listen}/-/reload`, {
    method: 'POST',
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`${what} refused its new configuration: ${res.status} ${await res.text()}`);
}

export async function reloadPrometheus(opts: PrometheusOptions): Promise<void> {
  writePrometheusConfig(opts);
  await reload(opts.listen, 'Prometheus');
}

export async function startPrometheus(opts: PrometheusOptions): Promise<number> {
  const configFile = writePrometheusConfig(opts);
  const pid = spawnDetached(
    '/usr/bin/prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(opts.dir, 'data')}`,
      `--web.listen-address=${opts.listen}`,
      `--web.external-url=http://${opts.listen}`,
      '--web.enable-lifecycle',
      '--rules.alert.resend-delay=5s',
      '--storage.tsdb.retention.time=2d',
    ],
    { logFile: path.join(opts.dir, 'prometheus.log'), pidFile: path.join(opts.dir, 'prometheus.pid') },
  );
  await waitFor('Prometheus to be ready', () => httpOk(`http://${opts.listen}/-/ready`), 30_000);
  return pid;
}

export interface AlertmanagerOptions {
  dir: string;
  listen: string;
  botWebhookUrl: string;
  sinkWebhookUrl: string;
  webhookToken: string;
}

export function alertmanagerConfig(opts: AlertmanagerOptions): string {
  const webhook = (url: string) => ({
    url,
    send_resolved: true,
    max_alerts: 0,
    http_config: { authorization: { type: 'Bearer', credentials: opts.webhookToken } },
  });
  return stringify({
    route: {
      receiver: 'qnwis-chatops',
      group_by: ['alertname'],
      group_wait: '1s',
      group_interval: '2s',
      // Short in the lab: Alertmanager does not re-notify a group whose firing set equals the last
      // one it sent until repeat_interval, so an alert that flaps (fires, resolves before the
      // resolved notification went out, fires again) would otherwise stay silent for an hour.
      // The bot de-duplicates re-sends, so a repeat costs nothing but a stored last_seen.
      repeat_interval: '20s',
      routes: [
        // The lab's sink records every notification, then the bot gets the same one.
        {
          receiver: 'lab-sink',
          continue: true,
          routes: [{ matchers: ['alertname="Watchdog"'], repeat_interval: '1m' }],
        },
        // The Watchdog is a heartbeat (dead man's switch): repeated every minute so its absence
        // means the alerting pipeline is broken.
        { receiver: 'qnwis-chatops', matchers: ['alertname="Watchdog"'], repeat_interval: '1m' },
        { receiver: 'qnwis-chatops' },
      ],
    },
    receivers: [
      { name: 'qnwis-chatops', webhook_configs: [webhook(opts.botWebhookUrl)] },
      { name: 'lab-sink', webhook_configs: [webhook(opts.sinkWebhookUrl)] },
    ],
  });
}

function writeAlertmanagerConfig(opts: AlertmanagerOptions): string {
  mkdirSync(path.join(opts.dir, 'data'), { recursive: true });
  const configFile = path.join(opts.dir, 'alertmanager.yml');
  writeFileSync(configFile, alertmanagerConfig(opts), { mode: 0o600 });
  return configFile;
}

export async function reloadAlertmanager(opts: AlertmanagerOptions): Promise<void> {
  writeAlertmanagerConfig(opts);
  await reload(opts.listen, 'Alertmanager');
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<number> {
  const configFile = writeAlertmanagerConfig(opts);
  const pid = spawnDetached(
    '/usr/bin/prometheus-alertmanager',
    [
      `--config.file=${configFile}`,
      `--storage.path=${path.join(opts.dir, 'data')}`,
      `--web.listen-address=${opts.listen}`,
      `--web.external-url=http://${opts.listen}`,
      // Empty: no gossip on 0.0.0.0:9094 (LAB-NOTES).
      '--cluster.listen-address=',
    ],
    { logFile: path.join(opts.dir, 'alertmanager.log'), pidFile: path.join(opts.dir, 'alertmanager.pid') },
  );
  await waitFor('Alertmanager to be ready', () => httpOk(`http://${opts.listen}/-/ready`), 30_000);
  return pid;
}
