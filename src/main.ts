/**
 * Entry point: `tsx src/main.ts [--role bot|worker|all]`. The only place that reads process.env.
 * Wires config → inventory → adapters → app. Invalid configuration exits 1 with one line per problem.
 *
 * Roles: `bot` serves HTTP (webhooks, Slack) and enqueues; `worker` runs the BullMQ workers
 * (Slack delivery, PagerDuty events); `all` (default) does both in one process.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createCommandProcessor } from './approvals/run.js';
import { CommandRequests } from './approvals/service.js';
import { createWebClient, PatientChatClient, SlackChatClient } from './bot/chat.js';
import { createQnwisCommandDeps, registerQnwisCommand } from './bot/commands/register.js';
import { IncidentResponse } from './bot/incident-response.js';
import { RoleDirectory } from './bot/roles.js';
import {
  type Config,
  checkInventorySecrets,
  checkStoresSeparateFromFleet,
  environmentWithDotenv,
  parseConfig,
} from './config.js';
import { ConfigError } from './errors.js';
import { approvalPolicyFrom } from './incidents/approvals.js';
import { escalationMatrixFrom } from './incidents/escalation.js';
import { createRouter, DEFAULT_ROUTES } from './incidents/routing.js';
import { DEFAULT_SEVERITY_POLICY } from './incidents/severity.js';
import { hostsWithRole, type Inventory, loadInventory } from './inventory.js';
import { createChartProcessor } from './jobs/chart.js';
import { createDiagnoseProcessor } from './jobs/diagnose.js';
import { startDuties } from './jobs/duties.js';
import { createEscalationProcessor, scheduleClockSweep } from './jobs/escalation.js';
import { ChannelPacer } from './jobs/pacing.js';
import { createEventsApiClient, createPagerDutyProcessor } from './jobs/pagerduty-events.js';
import { createPostmortemProcessor } from './jobs/postmortem.js';
import { createQueues, enqueueIncidentSync, QUEUE_NAMES } from './jobs/queues.js';
import {
  createAlertmanagerAlerts,
  reconcileWithAlertmanager,
  reconcileWithPagerDuty,
} from './jobs/reconcile.js';
import { createSlackProcessor } from './jobs/slack-sync.js';
import { createLogger, type Logger } from './observability/logger.js';
import { jobsTotal } from './observability/metrics.js';
import { PagerDutyRest } from './ops/adapters/pagerduty-rest.js';
import { createCommandContext } from './ops/commands/index.js';
import { runDiagnostics } from './ops/diagnostics/index.js';
import { createFleetOps } from './ops/index.js';
import { PrometheusClient } from './ops/prometheus.js';
import { createServer } from './server.js';
import { AuditTrail } from './store/audit-trail.js';
import { createPool, ensureDatabase, migrate } from './store/db.js';
import { IncidentStore, type RecordContext } from './store/incidents.js';
import { RequestStore } from './store/requests.js';

const ROLES = ['bot', 'worker', 'all'] as const;
type Role = (typeof ROLES)[number];

/** Where the bot looks for the local Slack stand-in when no Slack token is configured. */
export const LOCAL_SLACK_URL = 'http://127.0.0.1:3100';

export interface Startup {
  config: Config;
  inventory: Inventory;
  role: Role;
}

/** Everything that can be wrong before start-up, gathered so the operator sees all problems at once. */
export function loadStartup(argv: string[], env: Record<string, string | undefined>): Startup {
  const { values } = parseArgs({
    args: argv,
    options: { role: { type: 'string', default: 'all' } },
    strict: true,
  });
  const role = values.role as Role;
  if (!ROLES.includes(role)) {
    throw new ConfigError('command line', [
      { path: '--role', message: `must be one of ${ROLES.join(', ')}` },
    ]);
  }
  const config = parseConfig(env);
  const inventory = loadInventory(config.INVENTORY_PATH);
  const issues = [
    ...checkStoresSeparateFromFleet(config, inventory),
    ...checkInventorySecrets(config, inventory),
  ];
  if (role !== 'worker' && !config.ALERTMANAGER_WEBHOOK_TOKEN) {
    issues.push({
      path: 'ALERTMANAGER_WEBHOOK_TOKEN',
      message: 'is required to receive Alertmanager webhooks',
    });
  }
  if (config.SLACK_BOT_TOKEN && !config.SLACK_SIGNING_SECRET) {
    issues.push({ path: 'SLACK_SIGNING_SECRET', message: 'is required with SLACK_BOT_TOKEN' });
  }
  if (issues.length > 0) throw new ConfigError('configuration', issues);
  return { config, inventory, role };
}

interface SlackSetup {
  token: string;
  apiUrl: string;
  signingSecret: string;
  /** Set: Slack over Socket Mode (the stand-in takes any `xapp-…` unless given a token list). */
  appToken: string | undefined;
  close: () => Promise<void>;
}

/**
 * With a Slack token: real Slack (or SLACK_API_URL). Without: the local stand-in, the embedded
 * default. If one already runs (the lab starts it), use it; otherwise start one in this process.
 * With SLACK_APP_TOKEN, either one is reached over Socket Mode.
 */
async function setUpSlack(config: Config, log: Logger): Promise<SlackSetup> {
  const appToken = config.SLACK_APP_TOKEN;
  const transport = appToken ? 'Socket Mode' : 'HTTP (POST /slack/events)';
  if (config.SLACK_BOT_TOKEN) {
    return {
      token: config.SLACK_BOT_TOKEN,
      apiUrl: config.SLACK_API_URL ?? 'https://slack.com/api/',
      signingSecret: config.SLACK_SIGNING_SECRET ?? '',
      appToken,
      close: async () => {},
    };
  }
  const apiUrl = config.SLACK_API_URL ?? `${LOCAL_SLACK_URL}/api/`;
  const base = new URL('..', apiUrl).toString().replace(/\/$/, '');
  const running = await fetch(`${base}/_local/channels`, { signal: AbortSignal.timeout(1000) })
    .then((r) => r.ok)
    .catch(() => false);
  if (running) {
    // Over Socket Mode nothing is signed: the app token is the credential.
    if (!config.SLACK_SIGNING_SECRET && !appToken) {
      throw new ConfigError('configuration', [
        {
          path: 'SLACK_SIGNING_SECRET',
          message: `a local Slack stand-in already runs at ${base}; set its signing secret (npm run lab -- status --json)`,
        },
      ]);
    }
    log.info(
      { slack: base, transport },
      `no SLACK_BOT_TOKEN: using the local Slack stand-in at ${base} (open it in a browser)`,
    );
    return {
      token: 'xoxb-local-stand-in',
      apiUrl,
      signingSecret: config.SLACK_SIGNING_SECRET ?? '',
      appToken,
      close: async () => {},
    };
  }
  const signingSecret = config.SLACK_SIGNING_SECRET ?? randomBytes(24).toString('hex');
  const { startSlackLocal } = await import('./dev/slack/index.js');
  const local = await startSlackLocal({
    signingSecret,
    host: new URL(base).hostname,
    port: Number(new URL(base).port || 3100),
    botUrl: `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}/slack/events`,
  });
  log.info(
    { slack: local.url, transport },
    `no SLACK_BOT_TOKEN: started the local Slack stand-in at ${local.url} (open it in a browser)`,
  );
  return {
    token: 'xoxb-local-stand-in',
    apiUrl: local.apiUrl,
    signingSecret,
    appToken,
    close: () => local.close(),
  };
}

export interface RunOptions {
  /** A schema of its own in the bot database (tests). */
  schema?: string;
}

export interface Running {
  store: IncidentStore;
  stop(): Promise<void>;
}

export async function run(startup: Startup, log: Logger, opts: RunOptions = {}): Promise<Running> {
  const { config, inventory, role } = startup;
  log.info(
    { role, inventory: inventory.source, environment: inventory.environment, hosts: inventory.hosts.size },
    'qnwis-chatops starting',
  );
  await ensureDatabase(config.DATABASE_URL, log);
  const schema = opts.schema ? { schema: opts.schema } : {};
  await migrate({ url: config.DATABASE_URL, logger: log, ...schema });
  const db = createPool({ url: config.DATABASE_URL, logger: log, ...schema });
  const store = new IncidentStore(db);

  // Producers fail fast when Redis is down (the webhook then answers 503); workers wait for it.
  const producerRedis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const workerRedis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  producerRedis.on('error', (err) => log.warn({ err: err.message }, 'bot redis (producer) error'));
  workerRedis.on('error', (err) => log.warn({ err: err.message }, 'bot redis (worker) error'));
  await new Promise<void>((resolve, reject) => {
    if (producerRedis.status === 'ready') resolve();
    producerRedis.once('ready', () => resolve());
    setTimeout(
      () => reject(new Error(`bot Redis ${new URL(config.REDIS_URL).host} did not answer within 5 s`)),
      5000,
    ).unref();
  });
  const queues = createQueues(producerRedis, config.QUEUE_PREFIX);
  const slack = await setUpSlack(config, log);
  const paging = Boolean(config.PAGERDUTY_ROUTING_KEY);
  if (!paging) log.warn('PAGERDUTY_ROUTING_KEY is not set: SEV-1/SEV-2 incidents are not paged');

  const closers: (() => Promise<void>)[] = [];
  const recordContext: RecordContext = {
    router: createRouter(config.SLACK_ROUTES ?? DEFAULT_ROUTES, config.SLACK_DEFAULT_CHANNEL),
    appHosts: hostsWithRole(inventory, 'app').map((h) => h.name),
    policy: {
      ...DEFAULT_SEVERITY_POLICY,
      byAlert: { ...DEFAULT_SEVERITY_POLICY.byAlert, ...config.ALERT_SEVERITIES },
    },
    heartbeatAlerts: new Set(
      config.HEARTBEAT_ALERTS.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  };
  // The runbook's clock (issue 7): one matrix for the timers, the message and the paging decisions.
  const matrix = escalationMatrixFrom(config.ESCALATION_MATRIX);
  const pagerDutyRest = config.PAGERDUTY_API_TOKEN
    ? new PagerDutyRest({ baseUrl: config.PAGERDUTY_API_URL, token: config.PAGERDUTY_API_TOKEN })
    : null;
  if (!pagerDutyRest)
    log.warn(
      'PAGERDUTY_API_TOKEN is not set: acknowledge/escalate stay in Slack; PagerDuty is not kept in step',
    );
  const fleet = createFleetOps(config, inventory, log);
  // Command requests (issue 6): one store, one policy, one role directory, in both roles.
  const approvalPolicy = approvalPolicyFrom(config.APPROVAL_POLICY);
  const audit = new AuditTrail(db);
  const requestStore = new RequestStore(db, audit);
  const webClient = createWebClient(slack.token, slack.apiUrl);
  const chat = new SlackChatClient(webClient);
  // Approval messages and command progress are awaited by people now: they wait out a 429.
  const patientChat = new PatientChatClient(chat);
  const roles = new RoleDirectory({
    policy: {
      users: config.SLACK_ROLES,
      groups: config.SLACK_GROUP_ROLES,
      readMinimum: config.SLACK_READ_MIN_ROLE,
    },
    listUserGroups: async () => {
      const res = await webClient.usergroups.list({ include_users: true });
      return (res.usergroups ?? []).map((g) => ({
        id: g.id ?? '',
        handle: g.handle ?? '',
        users: g.users ?? [],
      }));
    },
    onError: (err) => log.warn({ err }, 'user groups could not be listed; deciding on direct mappings'),
  });
  const commandContext = createCommandContext({ ...fleet.context, ...fleet.commandPorts });
  const requests = new CommandRequests({
    store: requestStore,
    incidents: store,
    inventory,
    context: commandContext,
    policy: approvalPolicy,
    roles,
    chat: patientChat,
    queue: queues.commands,
    log,
  });
  const incidentResponse = new IncidentResponse({
    store,
    queues,
    matrix,
    roles,
    audit,
    rest: pagerDutyRest,
    log,
    profileOf: async (userId) => {
      const res = await webClient.users.info({ user: userId });
      return {
        email: res.user?.profile?.email ?? null,
        name: res.user?.real_name || res.user?.profile?.real_name || res.user?.name || null,
      };
    },
  });
  if (role !== 'worker') {
    const server = createServer({
      incidentResponse,
      signingSecret: slack.signingSecret,
      slackToken: slack.token,
      slackApiUrl: slack.apiUrl,
      appToken: slack.appToken,
      store,
      log,
      heartbeatAlert: config.HEARTBEAT_ALERTS.split(',')[0]?.trim() || 'Watchdog',
      heartbeatMaxAgeMs: config.WATCHDOG_MAX_SILENCE_SEC * 1000,
      opsToken: config.OPS_TOKEN,
      inventory,
      requests,
      alertmanager: {
        token: config.ALERTMANAGER_WEBHOOK_TOKEN ?? '',
        store,
        queues,
        paging,
        pagingFallbackMs: 5000,
        diagnose: true,
        context: recordContext,
      },
      pagerduty: config.PAGERDUTY_WEBHOOK_SECRETS
        ? { secrets: config.PAGERDUTY_WEBHOOK_SECRETS.split(',').map((s) => s.trim()), store, queues }
        : null,
    });
    const qnwis = {
      ...createQnwisCommandDeps({
        config,
        inventory,
        diagnostics: fleet.context,
        db,
        store,
        log,
        onIncidentChanged: async (incidentId) => {
          const incident = await store.get(incidentId);
          if (incident) await enqueueIncidentSync(queues, incident.id, incident.severity);
        },
      }),
      requests,
    };
    registerQnwisCommand(server.app, qnwis);
    const http = await server.listen(config.PORT, config.HOST);
    log.info({ host: config.HOST, port: config.PORT }, 'listening');
    closers.push(() => new Promise((resolve) => http.close(() => resolve())));
    closers.push(() => qnwis.close());
  }
  if (role !== 'bot') {
    const pacer = new ChannelPacer(producerRedis, {
      prefix: `${config.QUEUE_PREFIX}:slack`,
      intervalMs: config.SLACK_POST_INTERVAL_MS,
    });
    const slackWorker = new Worker(
      QUEUE_NAMES.slack,
      createSlackProcessor({
        store,
        chat,
        pacer,
        queues,
        log,
        paging,
        matrix,
        charts: Boolean(inventory.monitoring.prometheusUrl),
        storm: { threshold: config.STORM_THRESHOLD, windowMs: config.STORM_WINDOW_SEC * 1000 },
      }),
      { connection: workerRedis, prefix: config.QUEUE_PREFIX, concurrency: 8 },
    );
    slackWorker.on('completed', () => jobsTotal.inc({ queue: 'slack', outcome: 'completed' }));
    slackWorker.on('failed', () => jobsTotal.inc({ queue: 'slack', outcome: 'failed' }));
    slackWorker.on('failed', (job, err) =>
      log.error({ err, jobId: job?.id, job: job?.name }, 'slack job failed'),
    );
    closers.push(() => slackWorker.close());
    const playbook = createDiagnoseProcessor({
      store,
      queues,
      inventory,
      context: fleet.context,
      runDiagnostics,
      log,
    });
    const chart = createChartProcessor({
      store,
      chat,
      pacer,
      prometheus: inventory.monitoring.prometheusUrl
        ? new PrometheusClient(inventory.monitoring.prometheusUrl)
        : null,
      log,
    });
    const postmortem = createPostmortemProcessor({ store, chat, pacer, log, matrix });
    const alertmanagerUrl = inventory.monitoring.alertmanagerUrl;
    const reconcile =
      alertmanagerUrl && config.RECONCILE_INTERVAL_SEC > 0
        ? {
            store,
            queues,
            alertmanager: createAlertmanagerAlerts(alertmanagerUrl),
            context: recordContext,
            paging,
            log,
            // Leave alerts Alertmanager may not have processed yet: at most 30 s, less for fast periods.
            graceMs: Math.min(30_000, 2 * config.RECONCILE_INTERVAL_SEC * 1000),
          }
        : null;
    const reconcilePagerDuty =
      pagerDutyRest && config.RECONCILE_INTERVAL_SEC > 0
        ? {
            store,
            queues,
            rest: pagerDutyRest,
            log,
          }
        : null;
    if (reconcile || reconcilePagerDuty) {
      // One scheduler across replicas: upsert is idempotent.
      await queues.diagnose.upsertJobScheduler(
        'reconcile-alertmanager',
        { every: config.RECONCILE_INTERVAL_SEC * 1000 },
        { name: 'reconcile', data: {} },
      );
    }
    const diagnoseWorker = new Worker(
      QUEUE_NAMES.diagnose,
      async (job, token) => {
        if (job.name === 'incident-chart') return chart(job, token);
        if (job.name === 'incident-postmortem') return postmortem(job, token);
        if (job.name === 'reconcile')
          // PagerDuty first: an acknowledgement it holds is history the resolution must not hide.
          return {
            pagerduty: reconcilePagerDuty ? await reconcileWithPagerDuty(reconcilePagerDuty) : null,
            alertmanager: reconcile ? await reconcileWithAlertmanager(reconcile) : null,
          };
        return playbook(job);
      },
      { connection: workerRedis, prefix: config.QUEUE_PREFIX, concurrency: 4 },
    );
    diagnoseWorker.on('completed', () => jobsTotal.inc({ queue: 'diagnose', outcome: 'completed' }));
    diagnoseWorker.on('failed', () => jobsTotal.inc({ queue: 'diagnose', outcome: 'failed' }));
    diagnoseWorker.on('failed', (job, err) =>
      log.error({ err, jobId: job?.id, job: job?.name }, 'diagnose job failed'),
    );
    closers.push(() => diagnoseWorker.close());
    await queues.commands.upsertJobScheduler(
      'sweep-requests',
      { every: config.REQUEST_SWEEP_INTERVAL_SEC * 1000 },
      { name: 'sweep', data: {} },
    );
    const commandWorker = new Worker(
      QUEUE_NAMES.commands,
      createCommandProcessor({
        store: requestStore,
        incidents: store,
        requests,
        context: commandContext,
        policy: approvalPolicy,
        roles,
        chat: patientChat,
        log,
        workerId: `${hostname()}:${process.pid}`,
        onIncidentChanged: async (incidentId) => {
          const incident = await store.get(incidentId);
          if (incident) await enqueueIncidentSync(queues, incident.id, incident.severity);
        },
      }),
      { connection: workerRedis, prefix: config.QUEUE_PREFIX, concurrency: 4 },
    );
    commandWorker.on('completed', () => jobsTotal.inc({ queue: 'commands', outcome: 'completed' }));
    commandWorker.on('failed', (job, err) => {
      jobsTotal.inc({ queue: 'commands', outcome: 'failed' });
      log.error({ err, jobId: job?.id, job: job?.name }, 'command job failed');
    });
    closers.push(() => commandWorker.close());
    await scheduleClockSweep(queues, 5 * 60_000);
    // Scheduled duties (backup check, SLO digest, error-log review, maintenance announcement) and
    // the Watchdog dead-man switch: job schedulers, one run per slot across replicas.
    const duties = await startDuties({
      config,
      inventory,
      connection: workerRedis,
      queues,
      store,
      fleet: fleet.context,
      chat: patientChat,
      recordContext,
      log,
    });
    closers.push(() => duties.close());
    const escalationWorker = new Worker(
      QUEUE_NAMES.escalations,
      createEscalationProcessor({
        store,
        queues,
        matrix,
        log,
        pagerDuty: Boolean(config.PAGERDUTY_ROUTING_KEY && pagerDutyRest && config.PAGERDUTY_FROM),
      }),
      { connection: workerRedis, prefix: config.QUEUE_PREFIX, concurrency: 4 },
    );
    escalationWorker.on('completed', () => jobsTotal.inc({ queue: 'escalations', outcome: 'completed' }));
    escalationWorker.on('failed', (job, err) => {
      jobsTotal.inc({ queue: 'escalations', outcome: 'failed' });
      log.error({ err, jobId: job?.id, job: job?.name }, 'escalation job failed');
    });
    closers.push(() => escalationWorker.close());
    if (config.PAGERDUTY_ROUTING_KEY) {
      const pdWorker = new Worker(
        QUEUE_NAMES.pagerduty,
        createPagerDutyProcessor({
          store,
          events: createEventsApiClient(config.PAGERDUTY_EVENTS_URL),
          routingKey: config.PAGERDUTY_ROUTING_KEY,
          log,
          matrix,
          rest: pagerDutyRest,
          botEmail: config.PAGERDUTY_FROM ?? null,
          queues,
        }),
        { connection: workerRedis, prefix: config.QUEUE_PREFIX, concurrency: 4 },
      );
      pdWorker.on('failed', (job, err) => log.error({ err, jobId: job?.id }, 'pagerduty job failed'));
      closers.push(() => pdWorker.close());
    }
  }
  // Workers first (they drain), then the connections they used.
  closers.push(() => fleet.close());
  return {
    store,
    async stop() {
      for (const close of closers) await close();
      await queues.close();
      await slack.close();
      await db.end();
      producerRedis.disconnect();
      workerRedis.disconnect();
    },
  };
}

async function main(): Promise<void> {
  let startup: Startup;
  try {
    startup = loadStartup(process.argv.slice(2), environmentWithDotenv(process.env));
  } catch (err) {
    if (err instanceof ConfigError || (err instanceof TypeError && 'code' in err)) {
      process.stderr.write(`qnwis-chatops: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger({ level: startup.config.LOG_LEVEL });
  let running: Running;
  try {
    running = await run(startup, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`qnwis-chatops: ${err.message}\n`);
      process.exit(1);
    }
    log.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    log.info({ signal }, 'stopping');
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/main.ts')) {
  await main();
}
