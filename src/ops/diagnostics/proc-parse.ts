/**
 * Parsers for `free -b` and `ps -eo pid,rss,comm,args` output (runbook Scenario 3). Pure; the
 * memory diagnostic runs the commands.
 */

export interface MemoryFigures {
  readonly totalBytes: number;
  readonly usedBytes: number;
  readonly freeBytes: number;
  readonly sharedBytes: number | undefined;
  readonly buffCacheBytes: number | undefined;
  /** `available` (procps ≥ 3.3.10); undefined on older procps. */
  readonly availableBytes: number | undefined;
}

export interface FreeOutput {
  readonly mem: MemoryFigures;
  readonly swap:
    | { readonly totalBytes: number; readonly usedBytes: number; readonly freeBytes: number }
    | undefined;
}

/**
 * Parses `free -b`: the header names the columns (total used free shared buff/cache available, or
 * the old layout with separate buffers and cached), then `Mem:` and `Swap:` rows. Throws on text
 * that is not free's output.
 */
export function parseFreeOutput(text: string): FreeOutput {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines.find((l) => /\btotal\b/.test(l) && /\bused\b/.test(l));
  if (!header) throw new Error('free: no header line');
  const columns = header.trim().split(/\s+/);
  const row = (label: string) => {
    const line = lines.find((l) => l.trimStart().startsWith(label));
    if (!line) return undefined;
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    if (values.some((v) => !Number.isFinite(v))) throw new Error(`free: ${label} row is not numeric`);
    const byName = new Map<string, number>();
    columns.forEach((c, i) => {
      const v = values[i];
      if (v !== undefined) byName.set(c, v);
    });
    return byName;
  };
  const mem = row('Mem:');
  if (!mem) throw new Error('free: no Mem: row');
  const need = (m: Map<string, number>, k: string) => {
    const v = m.get(k);
    if (v === undefined) throw new Error(`free: no ${k} column`);
    return v;
  };
  const buffers = mem.get('buffers');
  const cached = mem.get('cached');
  const buffCache =
    mem.get('buff/cache') ??
    (buffers !== undefined || cached !== undefined ? (buffers ?? 0) + (cached ?? 0) : undefined);
  const swap = row('Swap:');
  return {
    mem: {
      totalBytes: need(mem, 'total'),
      usedBytes: need(mem, 'used'),
      freeBytes: need(mem, 'free'),
      sharedBytes: mem.get('shared'),
      buffCacheBytes: buffCache,
      availableBytes: mem.get('available'),
    },
    swap: swap
      ? { totalBytes: need(swap, 'total'), usedBytes: need(swap, 'used'), freeBytes: need(swap, 'free') }
      : undefined,
  };
}

/** Fraction of memory in use as the kernel sees it: (total − available) / total, else used / total. */
export function usedFraction(mem: MemoryFigures): number {
  if (mem.totalBytes <= 0) return 0;
  const used = mem.availableBytes !== undefined ? mem.totalBytes - mem.availableBytes : mem.usedBytes;
  return Math.max(0, used) / mem.totalBytes;
}

export interface ProcessRow {
  readonly pid: number;
  readonly rssBytes: number;
  /** Kernel command name (at most 15 characters; may contain spaces, e.g. a process title). */
  readonly comm: string;
  /** Full command line, secrets masked, cut at 300 characters. */
  readonly args: string;
}

/**
 * Parses `ps -eo pid,rss,comm,args` (header `PID RSS COMMAND COMMAND`, RSS in KiB). `comm` may
 * contain spaces, so the split between comm and args is taken from the header's second COMMAND
 * column; when a wide RSS pushed the row right, the split moves to the next word boundary.
 */
export function parsePsOutput(text: string): ProcessRow[] {
  const lines = text.split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => /^\s*PID\s+RSS\s+COMMAND\s+COMMAND\s*$/.test(l));
  if (headerIndex < 0) throw new Error('ps: no "PID RSS COMMAND COMMAND" header');
  const header = lines[headerIndex] ?? '';
  const argsCol = header.lastIndexOf('COMMAND');
  const rows: ProcessRow[] = [];
  for (const line of lines.slice(headerIndex + 1)) {
    const m = /^\s*(\d+)\s+(\d+)\s/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const commStart = m[0].length;
    let split = Math.max(argsCol, commStart + 1);
    while (split < line.length && !(line[split - 1] === ' ' && line[split] !== ' ')) split++;
    const comm = line.slice(commStart, split).trim();
    const args = line.slice(split).trim();
    rows.push({
      pid: Number(m[1]),
      rssBytes: Number(m[2]) * 1024,
      comm: comm || args.split(' ')[0] || '',
      args: maskArgs(args || comm),
    });
  }
  return rows;
}

/** Command lines can carry credentials (`--password=…`, `PGPASSWORD=…`, URLs with user:pass@). */
export function maskArgs(args: string): string {
  const masked = args
    .replace(/((?:password|passwd|pwd|token|secret|api[_-]?key)[=:]\s*)\S+/gi, '$1***')
    .replace(/(--(?:password|token|secret|api-key)\s+)\S+/gi, '$1***')
    .replace(/(\/\/[^/\s:@]+:)[^@\s/]+@/g, '$1***@');
  return masked.length > 300 ? `${masked.slice(0, 299)}…` : masked;
}

/**
 * The QNWIS app's processes (runbook `ps aux | grep uvicorn`): a process named uvicorn, gunicorn or
 * qnwis* (the lab's stand-in), or a python running one of them. Judged by the process name, not
 * any mention in the command line, so `tail /var/log/qnwis/error.log` is not an app worker.
 */
export function isAppProcess(p: ProcessRow): boolean {
  if (/^(uvicorn|gunicorn|qnwis)/i.test(p.comm)) return true;
  return /^python/i.test(p.comm) && /\b(uvicorn|gunicorn)\b|\bqnwis\b/i.test(p.args);
}
