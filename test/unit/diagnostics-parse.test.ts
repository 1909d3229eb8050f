/**
 * Parsing `free -b` and `ps -eo pid,rss,comm,args` output (runbook Scenario 3), on output captured
 * from procps-ng 4.0.2 (Debian 12) and the lab shims, plus the older procps layout.
 */
import { describe, expect, it } from 'vitest';
import {
  isAppProcess,
  maskArgs,
  parseFreeOutput,
  parsePsOutput,
  usedFraction,
} from '../../src/ops/diagnostics/proc-parse.js';

const FREE_B = `               total        used        free      shared  buff/cache   available
Mem:     25276518400  1664102400 22488059904   153726976  1579315200 23612416000
Swap:              0           0           0
`;

/** The lab's free shim on app-03 during the memory fault (used above the 1 GiB budget). */
const FREE_B_LAB_LEAK = `               total        used        free      shared  buff/cache   available
Mem:      1073741824  1180491776           0           0           0           0
Swap:              0           0           0
`;

/** procps before 3.3.10: buffers and cached apart, no available, a -/+ row. */
const FREE_B_OLD = `             total       used       free     shared    buffers     cached
Mem:    8254390272 7897776128  356614144  101306368  417538048 5204119552
-/+ buffers/cache: 2276118528 5978271744
Swap:   2147479552   15728640 2131750912
`;

const PS = `  PID   RSS COMMAND         COMMAND
24787 242144 node (vitest)  node (vitest)
26430 174500 node (vitest 1) node (vitest 1)
 3770 92884 qnwis-app app-0 qnwis-app app-01
 2934 126132 beam.smp       /usr/lib/erlang/erts-13.1.5/bin/beam.smp -W w -MBas ageffcbf -- -root /usr/lib/erlang
 1201 51200 uvicorn         /opt/qnwis/venv/bin/python3 /opt/qnwis/venv/bin/uvicorn qnwis.main:app --workers 4
 1305 48000 python3         /opt/qnwis/venv/bin/python3 -m gunicorn qnwis.main:app
 4242  2100 tail            tail -n 500 /var/log/qnwis/error.log
31586  4648 ps              /usr/bin/ps -o pid,rss,comm,args --sort=-rss -p 31586,3770
    2     0 kthreadd        [kthreadd]
`;

describe('parseFreeOutput', () => {
  it('reads free -b of procps-ng 4 by column name', () => {
    const f = parseFreeOutput(FREE_B);
    expect(f.mem).toEqual({
      totalBytes: 25276518400,
      usedBytes: 1664102400,
      freeBytes: 22488059904,
      sharedBytes: 153726976,
      buffCacheBytes: 1579315200,
      availableBytes: 23612416000,
    });
    expect(f.swap).toEqual({ totalBytes: 0, usedBytes: 0, freeBytes: 0 });
    expect(usedFraction(f.mem)).toBeCloseTo(1 - 23612416000 / 25276518400, 6);
  });

  it('reads the lab shim’s output for a host over its budget as fully used', () => {
    const f = parseFreeOutput(FREE_B_LAB_LEAK);
    expect(f.mem.usedBytes).toBe(1180491776);
    expect(usedFraction(f.mem)).toBe(1);
  });

  it('reads the old layout (buffers + cached, no available) and judges by used', () => {
    const f = parseFreeOutput(FREE_B_OLD);
    expect(f.mem.availableBytes).toBeUndefined();
    expect(f.mem.buffCacheBytes).toBe(417538048 + 5204119552);
    expect(f.swap?.usedBytes).toBe(15728640);
    expect(usedFraction(f.mem)).toBeCloseTo(7897776128 / 8254390272, 6);
  });

  it('refuses what is not free -b output', () => {
    expect(() => parseFreeOutput('')).toThrow(/header/);
    expect(() => parseFreeOutput('               total        used        free\nSwap: 0 0 0\n')).toThrow(
      /Mem:/,
    );
    // free -h is not numeric: the diagnostic always runs -b.
    expect(() =>
      parseFreeOutput(
        '               total        used        free      shared  buff/cache   available\nMem:            23Gi       1.5Gi        20Gi       146Mi       1.5Gi        21Gi\n',
      ),
    ).toThrow(/not numeric/);
  });
});

describe('parsePsOutput', () => {
  const rows = parsePsOutput(PS);

  it('splits comm (which may contain spaces) from args, also when a wide RSS shifted the row', () => {
    expect(rows).toHaveLength(9);
    expect(rows[0]).toEqual({
      pid: 24787,
      rssBytes: 242144 * 1024,
      comm: 'node (vitest)',
      args: 'node (vitest)',
    });
    expect(rows[1]).toEqual({
      pid: 26430,
      rssBytes: 174500 * 1024,
      comm: 'node (vitest 1)',
      args: 'node (vitest 1)',
    });
    expect(rows[2]).toEqual({
      pid: 3770,
      rssBytes: 92884 * 1024,
      comm: 'qnwis-app app-0',
      args: 'qnwis-app app-01',
    });
    expect(rows[3]?.comm).toBe('beam.smp');
    expect(rows[3]?.args).toMatch(/^\/usr\/lib\/erlang\/erts-13\.1\.5\/bin\/beam\.smp -W w/);
    expect(rows.at(-1)).toEqual({ pid: 2, rssBytes: 0, comm: 'kthreadd', args: '[kthreadd]' });
  });

  it('picks out the app workers by process name, not by a mention of qnwis in a command line', () => {
    expect(rows.filter(isAppProcess).map((p) => p.pid)).toEqual([3770, 1201, 1305]);
  });

  it('refuses output without the header', () => {
    expect(() => parsePsOutput('1 2 x y\n')).toThrow(/header/);
  });
});

describe('maskArgs', () => {
  it('masks credentials on command lines and cuts long ones', () => {
    expect(maskArgs('psql --password=hunter2 -h db')).toBe('psql --password=*** -h db');
    expect(maskArgs('curl -H token:abc https://u:pw@example.org/x')).toBe(
      'curl -H token:*** https://u:***@example.org/x',
    );
    expect(maskArgs('app --api-key s3cr3t --port 8000')).toBe('app --api-key *** --port 8000');
    expect(maskArgs('x'.repeat(1000))).toHaveLength(300);
  });
});
