/**
 * Maintenance mode, shared by the whole fleet through Redis key `qnwis:maintenance`, as the real
 * service keeps it: turning it on through one instance (or through the load balancer) turns it on
 * everywhere, and a restarted instance comes back in the state the fleet is in.
 *
 * Each instance keeps the last state it read and polls the key every second, so request handling
 * never waits on Redis for this. If Redis is unreachable the instance keeps its last known state
 * (fail-static) rather than guessing; writes then fail and the caller reports that.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { kv, type LogFiles, Throttle } from './logs.js';

export const MAINTENANCE_KEY = 'qnwis:maintenance';

const StoredStateSchema = z.object({
  enabled: z.boolean(),
  message: z.string().nullable(),
  since: z.string(),
});
export type MaintenanceState = z.infer<typeof StoredStateSchema>;

const DISABLED: MaintenanceState = { enabled: false, message: null, since: new Date(0).toISOString() };

export class MaintenanceStore {
  private state: MaintenanceState = DISABLED;
  private timer: NodeJS.Timeout | undefined;
  private readonly warnings = new Throttle(30_000);

  private readonly redis: Redis;
  private readonly logs: LogFiles;
  private readonly pollMs: number;

  constructor(redis: Redis, logs: LogFiles, pollMs = 1000) {
    this.redis = redis;
    this.logs = logs;
    this.pollMs = pollMs;
  }

  /** The last state read from (or written to) Redis. */
  get current(): MaintenanceState {
    return this.state;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.refresh().catch((err: unknown) => {
        // Polling failures are expected during a Redis outage: keep the last state, say so rarely.
        const suppressed = this.warnings.admit('poll');
        if (suppressed === null) return;
        this.logs.app(
          'WARNING',
          'qnwis.maintenance',
          `maintenance state refresh failed, keeping enabled=${this.state.enabled} error=${kv(errorText(err))}`,
          { suppressed },
        );
      });
    }, this.pollMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the fleet state from Redis; throws when Redis cannot be read. */
  async refresh(): Promise<MaintenanceState> {
    const raw = await this.redis.get(MAINTENANCE_KEY);
    const next = raw === null ? DISABLED : parseStored(raw);
    if (next.enabled !== this.state.enabled) {
      this.logs.app(
        'WARNING',
        'qnwis.maintenance',
        `maintenance mode ${next.enabled ? 'enabled' : 'disabled'} (fleet state)${next.message === null ? '' : ` message=${kv(next.message)}`}`,
        { maintenance: next.enabled },
      );
    }
    this.warnings.reset('poll');
    this.state = next;
    return next;
  }

  /** Writes the new fleet state; throws (and changes nothing locally) when Redis refuses it. */
  async set(enabled: boolean, message: string | null): Promise<MaintenanceState> {
    const next: MaintenanceState = {
      enabled,
      message: enabled ? message : null,
      since: new Date().toISOString(),
    };
    // Disabled is stored too (not deleted) so the key shows when maintenance last ended.
    await this.redis.set(MAINTENANCE_KEY, JSON.stringify(next));
    this.state = next;
    return next;
  }
}

function parseStored(raw: string): MaintenanceState {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    // A value written by hand that is not our JSON counts as disabled: refusing all traffic
    // because of a typo in a key would be worse, and the key stays there for whoever wrote it.
    return DISABLED;
  }
  const parsed = StoredStateSchema.safeParse(json);
  return parsed.success ? parsed.data : DISABLED;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
