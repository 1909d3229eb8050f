/**
 * The bot's own metrics (prom-client), served at GET /metrics behind the ops token. Counters are
 * incremented where things happen; gauges that need I/O (queue depths, open incidents, heartbeat
 * age) are collected at scrape time by the server.
 */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'qnwis_chatops_' });

export const webhooksTotal = new Counter({
  name: 'qnwis_chatops_webhooks_total',
  help: 'Inbound webhooks by source and outcome (stored, duplicate, unauthorized, invalid, too_large, unavailable).',
  labelNames: ['source', 'outcome'] as const,
  registers: [registry],
});

export const slackCallsTotal = new Counter({
  name: 'qnwis_chatops_slack_calls_total',
  help: 'Slack Web API calls made by the delivery jobs, by method and outcome.',
  labelNames: ['method', 'outcome'] as const,
  registers: [registry],
});

export const jobsTotal = new Counter({
  name: 'qnwis_chatops_jobs_total',
  help: 'BullMQ jobs finished, by queue and outcome (completed, failed).',
  labelNames: ['queue', 'outcome'] as const,
  registers: [registry],
});

export const playbookSeconds = new Histogram({
  name: 'qnwis_chatops_playbook_duration_seconds',
  help: 'Wall time of a playbook (all its diagnostics in parallel).',
  labelNames: ['playbook'] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  registers: [registry],
});

export const approvalsTotal = new Counter({
  name: 'qnwis_chatops_approval_decisions_total',
  help: 'Requests, approvals, rejections and cancels of runbook commands, by command and outcome.',
  labelNames: ['command', 'decision', 'outcome'] as const,
  registers: [registry],
});

export const commandRunsTotal = new Counter({
  name: 'qnwis_chatops_command_runs_total',
  help: 'Approved runbook commands that ended, by command and final state.',
  labelNames: ['command', 'state'] as const,
  registers: [registry],
});

export const commandSeconds = new Histogram({
  name: 'qnwis_chatops_command_duration_seconds',
  help: 'Wall time of an approved command from claim to verification.',
  labelNames: ['command'] as const,
  buckets: [1, 5, 15, 30, 60, 120, 300, 900, 1800],
  registers: [registry],
});

export const escalationTimersTotal = new Counter({
  name: 'qnwis_chatops_escalation_timers_total',
  help: 'Escalation-clock timers that fired, by kind (ack-reminder, escalation, …) and outcome (acted, dropped, duplicate).',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

export const escalationsTotal = new Counter({
  name: 'qnwis_chatops_escalations_total',
  help: 'Escalations made (the matrix on its clock, Escalate now from Slack, PagerDuty), by kind and outcome (paged, slack_only, failed).',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

export const dutiesTotal = new Counter({
  name: 'qnwis_chatops_duties_total',
  help: 'Scheduled duty runs (backup-check, slo-digest, error-log-review, maintenance-check, watchdog) by outcome (ok, failed, posted, announced, skipped, missing, back, error, …).',
  labelNames: ['duty', 'outcome'] as const,
  registers: [registry],
});
