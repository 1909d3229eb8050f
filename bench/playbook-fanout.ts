/**
 * Benchmark (not a test): how long a playbook's diagnostics take when fanned out in parallel over
 * pooled connections, against the slowest single diagnostic run alone. Against the running lab.
 *
 *   npm run bench
 */
import { performance } from 'node:perf_hooks';
import { Lab } from '../lab/lab.js';
import { parseConfig } from '../src/config.js';
import { loadInventory } from '../src/inventory.js';
import { silentLogger } from '../src/observability/logger.js';
import { runDiagnostics } from '../src/ops/diagnostics/index.js';
import { createFleetOps } from '../src/ops/index.js';
import { playbookFor } from '../src/ops/playbooks.js';

const ROUNDS = 5;
const lab = new Lab();
const status = await lab.status();
if (!status.up || !status.botEnv) {
  console.error('the lab is not up: npm run lab -- up --detach');
  process.exit(1);
}
const config = parseConfig(status.botEnv);
const inventory = loadInventory(status.inventory);
const fleet = createFleetOps(config, inventory, silentLogger);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

console.log(`playbook fan-out against the lab (${ROUNDS} rounds each, median ms)\n`);
console.log('playbook              checks  fan-out   slowest alone   sum of alone   overhead');
for (const alertname of [
  'HighErrorRate',
  'ServiceDown',
  'DatabaseDown',
  'QueryLatencyHigh',
  'LowCacheHitRate',
  'HighMemoryUsage',
]) {
  const playbook = playbookFor({ alertname, hosts: [] }, inventory);
  const requests = [...playbook.diagnostics];
  // Warm the pools (first SSH connect ~130 ms per host) so both sides measure steady state.
  await runDiagnostics(fleet.context, requests);
  const fanout: number[] = [];
  const alone = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    await runDiagnostics(fleet.context, requests);
    fanout.push(performance.now() - t0);
    for (const r of requests) {
      const t1 = performance.now();
      await runDiagnostics(fleet.context, [r]);
      const key = `${r.diagnostic}@${r.target}`;
      alone.set(key, [...(alone.get(key) ?? []), performance.now() - t1]);
    }
  }
  const singles = [...alone.values()].map(median);
  const slowest = Math.max(...singles);
  const sum = singles.reduce((a, b) => a + b, 0);
  const fan = median(fanout);
  console.log(
    `${alertname.padEnd(20)}  ${String(requests.length).padStart(6)}  ${fan.toFixed(0).padStart(7)}   ${slowest.toFixed(0).padStart(13)}   ${sum.toFixed(0).padStart(12)}   ${(fan - slowest).toFixed(0).padStart(8)}`,
  );
}
await fleet.close();
