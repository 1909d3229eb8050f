/**
 * `npm run lab -- <verb>`: drive the local QNWIS lab.
 *
 *   up [--detach]        build and start the fleet (idempotent); without --detach, follow the logs
 *                        and stop everything on Ctrl-C
 *   down                 stop every process the lab started
 *   status [--json]      every component, its address, PID and health; --json adds credentials
 *   fault <name> [host]  break something so a runbook alert fires for real
 *   heal [name]          undo one fault, or all; `heal failover` restores the database topology
 *                        after the bot's failover (plain `heal` does too)
 *   destroy              down, then delete .lab/ (data, keys, credentials)
 *
 * `npm run lab` alone is `up` then follow the logs.
 */
import { parseArgs } from 'node:util';
import { FAULTS, Faults, isFaultName, isRestorableName, RESTORABLE } from './faults.js';
import { Lab, type LabStatus } from './lab.js';

const USAGE = `usage: npm run lab -- [up [--detach] | down | status [--json] | fault <name> [host] | heal [name] | destroy]
faults:
${Object.entries(FAULTS)
  .map(
    ([name, f]) =>
      `  ${name.padEnd(11)} → ${f.alert.padEnd(16)} ${f.what}${f.defaultHost ? ` (default host ${f.defaultHost})` : ''}`,
  )
  .join('\n')}
heal only:
${Object.entries(RESTORABLE)
  .map(([name, what]) => `  ${name.padEnd(11)}   ${what}`)
  .join('\n')}`;

const log = (line: string) => process.stderr.write(`lab: ${line}\n`);

function labFromEnv(): Lab {
  return new Lab({
    inventoryPath: process.env.LAB_INVENTORY,
    dir: process.env.LAB_DIR,
    botUrl: process.env.LAB_BOT_URL,
    sinkListen: process.env.LAB_SINK_LISTEN,
    // A person typed the command: they answer for the EXCLUSIVE protocol, not the lab.
    exclusive: 'ignore',
    log,
  });
}

function printStatus(status: LabStatus): void {
  for (const c of status.components) {
    const mark = c.healthy ? 'ok  ' : 'DOWN';
    console.log(
      `${mark} ${c.name.padEnd(20)} ${c.address.padEnd(18)} pid ${String(c.pid ?? '-').padEnd(8)} ${c.detail ?? ''}`,
    );
  }
  console.log(`\n${status.up ? 'lab is up' : 'lab is NOT fully up'} — state in ${status.dir}`);
  console.log(
    `Prometheus ${status.urls.prometheus}  Alertmanager ${status.urls.alertmanager}  LB ${status.urls.loadBalancer}`,
  );
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      detach: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [verb = 'up', ...rest] = positionals;
  switch (verb) {
    case 'up': {
      const lab = labFromEnv();
      const status = await lab.up();
      printStatus(status);
      if (values.detach) return 0;
      log('following logs; Ctrl-C stops the lab');
      const stopFollowing = lab.follow((line) => console.log(line));
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      stopFollowing();
      log('stopping the lab…');
      await lab.down();
      log('lab stopped');
      return 0;
    }
    case 'down':
      await labFromEnv().down();
      log('lab stopped');
      return 0;
    case 'destroy':
      await labFromEnv().destroy();
      log('lab destroyed');
      return 0;
    case 'status': {
      const status = await labFromEnv().status();
      if (values.json) console.log(JSON.stringify(status, null, 2));
      else printStatus(status);
      return status.up ? 0 : 3;
    }
    case 'fault': {
      const [name, host] = rest;
      if (!name || !isFaultName(name)) {
        console.error(`lab: unknown fault ${name ?? '(none)'}\n${USAGE}`);
        return 2;
      }
      console.log(await new Faults(labFromEnv()).inject(name, host));
      return 0;
    }
    case 'heal': {
      const [name] = rest;
      if (name && isRestorableName(name)) {
        const done = await new Faults(labFromEnv()).restore(name);
        console.log(done.length > 0 ? done.join('\n') : `${name}: nothing to restore`);
        return 0;
      }
      if (name && !isFaultName(name)) {
        console.error(`lab: unknown fault ${name}\n${USAGE}`);
        return 2;
      }
      const healed = await new Faults(labFromEnv()).heal(name && isFaultName(name) ? name : undefined);
      console.log(`healed: ${healed.join(', ')}`);
      return 0;
    }
    default:
      console.error(`lab: unknown verb ${verb}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
