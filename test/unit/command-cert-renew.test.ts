/**
 * `cert-renew` without the lab: the plan from the inventory (record, dry run on every load
 * balancer first, then renew and reload), certbot 2.x's report parsed (renewed, not due, failed,
 * simulated), and a run that stops when the dry run fails, so nothing is renewed or reloaded.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Host, parseInventory } from '../../src/inventory.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
} from '../../src/ops/adapters/ssh.js';
import {
  buildCertRenewPlan,
  certRenew,
  commandModule,
  createCommandContext,
  PlanRefusedError,
  parseCertbotRenew,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const LAB_INVENTORY = readFileSync('lab/inventory.yaml', 'utf8');
// No TLS endpoint: the unit tests never open a connection.
const inventory = parseInventory(
  LAB_INVENTORY.replace(/^ {2}tls_endpoints: .*\n/m, ''),
  'lab/inventory.yaml',
);

const LINE = '- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -';

/** certbot 2.x output, as `certbot renew` prints it. */
const RENEWED = `
${LINE}
Processing /etc/letsencrypt/renewal/api.qnwis.lab.conf
${LINE}
Renewing an existing certificate for api.qnwis.lab

${LINE}
Congratulations, all renewals succeeded: 
  /etc/letsencrypt/live/api.qnwis.lab/fullchain.pem (success)
${LINE}
`;
const NOT_DUE = `
${LINE}
Processing /etc/letsencrypt/renewal/api.qnwis.lab.conf
${LINE}
Certificate not yet due for renewal

${LINE}
The following certificates are not due for renewal yet:
  /etc/letsencrypt/live/api.qnwis.lab/fullchain.pem expires on 2027-02-26 (skipped)
No renewals were attempted.
${LINE}
`;
const DRY_RUN_FAILED = `
${LINE}
Processing /etc/letsencrypt/renewal/api.qnwis.lab.conf
${LINE}
Simulating renewal of an existing certificate for api.qnwis.lab
Failed to renew certificate api.qnwis.lab with error: Could not bind TCP port 80 because it is already in use

${LINE}
All simulated renewals failed. The following certificates could not be renewed:
  /etc/letsencrypt/live/api.qnwis.lab/fullchain.pem (failure)
${LINE}
`;

describe('the cert-renew plan', () => {
  it('is registered under its catalog name', () => {
    expect(commandModule('cert-renew')).toBe(certRenew);
  });

  it('records the served certificates, dry-runs on every lb first, then renews and reloads', () => {
    const plan = buildCertRenewPlan(parseInventory(LAB_INVENTORY, 'lab/inventory.yaml'));
    expect(plan.steps.map((s) => `${s.id}@${s.host ?? 'fleet'}:${s.kind}`)).toEqual([
      'record-expiry@fleet:capture',
      'dry-run-lb@lb:remote-command',
      'renew-lb@lb:remote-command',
      'reload-lb@lb:remote-command',
    ]);
    expect(plan.facts).toEqual({
      lbs: [{ host: 'lb', service: 'nginx', unit: 'nginx' }],
      endpoints: ['127.0.4.1:443'],
    });
    expect(plan.steps[3]?.description).toBe(
      'sudo systemctl reload nginx on lb (serves the renewed certificate; no connection dropped)',
    );
    expect(plan.blastRadius).toBe(
      '1 load balancer (lb): certificates renewed on disk, then a graceful nginx reload (open connections finish on the old workers)',
    );
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('two load balancers: both dry runs before either renewal', () => {
    const two = parseInventory(
      LAB_INVENTORY.replace(
        '  lb: { address: 127.0.4.1, roles: [lb] }',
        '  lb: { address: 127.0.4.1, roles: [lb] }\n  lb-2: { address: 127.0.4.2, roles: [lb] }',
      ),
      'lab/inventory.yaml',
    );
    expect(buildCertRenewPlan(two).steps.map((s) => s.id)).toEqual([
      'record-expiry',
      'dry-run-lb',
      'dry-run-lb-2',
      'renew-lb',
      'reload-lb',
      'renew-lb-2',
      'reload-lb-2',
    ]);
  });

  it('refuses an inventory without a load balancer', () => {
    const none = parseInventory(
      LAB_INVENTORY.replace(
        '  lb: { address: 127.0.4.1, roles: [lb] }',
        '  lb: { address: 127.0.4.1, roles: [redis] }',
      ),
      'lab/inventory.yaml',
    );
    expect(() => buildCertRenewPlan(none)).toThrow(PlanRefusedError);
  });
});

describe("certbot's report", () => {
  it('renewed, not due, failed, simulated', () => {
    expect(parseCertbotRenew(RENEWED)).toEqual({
      renewed: ['/etc/letsencrypt/live/api.qnwis.lab/fullchain.pem'],
      failed: [],
      notDue: [],
      simulated: false,
    });
    expect(parseCertbotRenew(NOT_DUE)).toEqual({
      renewed: [],
      failed: [],
      notDue: [{ path: '/etc/letsencrypt/live/api.qnwis.lab/fullchain.pem', expires: '2027-02-26' }],
      simulated: false,
    });
    expect(parseCertbotRenew(DRY_RUN_FAILED)).toEqual({
      renewed: [],
      failed: ['/etc/letsencrypt/live/api.qnwis.lab/fullchain.pem'],
      notDue: [],
      simulated: true,
    });
  });
});

describe('a cert-renew run', () => {
  it('a failed dry run stops everything: no renewal, no reload', async () => {
    const sent: string[] = [];
    const ssh: RemoteCommandRunner = {
      async run<S extends RemoteArgsShape>(
        host: Host,
        command: RemoteCommand<S>,
        a: RemoteCommandArgs<S>,
      ): Promise<RemoteCommandResult> {
        renderRemoteCommand(command, a);
        sent.push(`${host.name} ${command.name}`);
        return {
          host: host.name,
          command: command.name,
          exitCode: 1,
          signal: null,
          stdout: DRY_RUN_FAILED,
          stderr:
            'Saving debug log to /var/log/letsencrypt/letsencrypt.log\n1 renew failure(s), 0 parse failure(s)\n',
          truncated: false,
          durationMs: 5,
        };
      },
    };
    const ctx = createCommandContext(
      createDiagnosticContext({
        inventory,
        ssh,
        db: {} as FleetDatabase,
        cache: {} as FleetCache,
        stepTimeoutMs: 1_000,
      }),
    );
    const plan = await certRenew.plan(ctx, {});
    const progress: StepProgress[] = [];
    const outcome = await certRenew.run(
      ctx,
      {},
      plan,
      async (p) => {
        progress.push(p);
      },
      new AbortController().signal,
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.steps.map((s) => `${s.stepId}:${s.status}`)).toEqual([
      'record-expiry:done',
      'dry-run-lb:failed',
      'renew-lb:skipped',
      'reload-lb:skipped',
    ]);
    expect(outcome.steps[1]?.detail).toBe(
      'lb: the dry run failed, nothing was renewed: Failed to renew certificate api.qnwis.lab with error: Could not bind TCP port 80 because it is already in use | All simulated renewals failed. The following certificates could not be renewed: | /etc/letsencrypt/live/api.qnwis.lab/fullchain.pem (failure) | 1 renew failure(s), 0 parse failure(s)',
    );
    expect(sent).toEqual(['lb certbot-renew-dry-run']);

    // Nothing renewed because nothing ran: verification must not call that "nothing was due"
    // (the endpoint is a closed loopback port: refused at once).
    const withEndpoint = parseInventory(
      LAB_INVENTORY.replace(/^ {2}tls_endpoints: .*$/m, '  tls_endpoints: ["127.0.0.1:1"]'),
      'lab/inventory.yaml',
    );
    const c2 = createCommandContext(
      createDiagnosticContext({
        inventory: withEndpoint,
        ssh,
        db: {} as FleetDatabase,
        cache: {} as FleetCache,
        stepTimeoutMs: 1_000,
      }),
    );
    const plan2 = await certRenew.plan(c2, {});
    const outcome2 = await certRenew.run(c2, {}, plan2, async () => {}, new AbortController().signal);
    const v = await certRenew.verify(c2, {}, plan2, outcome2);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(
      /^the run stopped before renew-lb, reload-lb \(failed at step 2\/4 \(dry-run-lb\): .*\); 127\.0\.0\.1:1: ECONNREFUSED/,
    );
  });
});
