import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { dutySchedules } from '../../src/jobs/duties.js';

describe('dutySchedules', () => {
  it('by default: the runbook duties on their UTC crons, the checks on their periods', () => {
    const byId = Object.fromEntries(dutySchedules(parseConfig({})).map((s) => [s.id, s]));
    expect(byId['duty-backup-check']).toMatchObject({
      job: 'backup-check',
      repeat: { pattern: '30 6 * * *', tz: 'UTC' },
    });
    expect(byId['duty-slo-digest']?.repeat).toEqual({ pattern: '0 */4 * * *', tz: 'UTC' });
    expect(byId['duty-error-log-review']?.repeat).toEqual({ pattern: '0 7 * * *', tz: 'UTC' });
    expect(byId['duty-maintenance-check']?.repeat).toEqual({ every: 900_000 });
    expect(byId['duty-watchdog-check']?.repeat).toEqual({ every: 60_000 });
  });

  it('turns a duty off with "off" (an empty variable means the default) or 0 seconds', () => {
    const off = dutySchedules(
      parseConfig({ DUTY_SLO_DIGEST_CRON: 'off', WATCHDOG_CHECK_SEC: '0', DUTY_MAINTENANCE_CHECK_SEC: '0' }),
    );
    expect(off.filter((s) => s.repeat === null).map((s) => s.id)).toEqual([
      'duty-slo-digest',
      'duty-maintenance-check',
      'duty-watchdog-check',
    ]);
  });
});
