/**
 * The app's three JSON-lines log files (app.log, error.log, audit.log), shaped like the Python
 * service's structured logging: one object per line with `ts`, `level`, `logger`, `msg`.
 *
 * The runbook greps these files literally (`grep "query_id=q_2024_001234" app.log`,
 * `grep "authentication failed" audit.log`, `tail error.log | grep ERROR`), so every `msg`
 * carries its key=value text as well as the structured fields beside it.
 *
 * Lines go through append-mode write streams, never a sync write per line: the event loop must
 * keep answering /health while a fault makes every query log an error. `close()` ends the
 * streams and resolves only once everything written has reached the files, so a SIGTERM loses
 * nothing. `reopen()` (SIGHUP) lets logrotate's move-and-signal rotation work.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';

export type Level = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
export type Fields = Readonly<Record<string, unknown>>;

export interface LogFilesOptions {
  dir: string;
  host: string;
  /** Where copies for the journal go (the process's stdout); one JSON object per line. */
  stdout?: (line: string) => void;
  /** Where the log files' own I/O errors go; they must never crash the app. */
  onIoError?: (file: string, err: Error) => void;
}

/** One append-only file behind a write stream. */
class AppendFile {
  readonly path: string;
  private readonly onError: (err: Error) => void;
  private stream: WriteStream;

  constructor(path: string, onError: (err: Error) => void) {
    this.path = path;
    this.onError = onError;
    this.stream = this.open();
  }

  write(line: string): void {
    // A full buffer returns false; the stream keeps the data and flushes it in order, which is
    // what we want for logs (memory grows only while the disk is slower than the app).
    this.stream.write(line);
  }

  /** Switches to a fresh stream on the same path (after logrotate moved the old file away). */
  async reopen(): Promise<void> {
    const old = this.stream;
    this.stream = this.open();
    await endStream(old);
  }

  close(): Promise<void> {
    return endStream(this.stream);
  }

  private open(): WriteStream {
    const stream = createWriteStream(this.path, { flags: 'a' });
    stream.on('error', this.onError);
    return stream;
  }
}

function endStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableFinished || stream.destroyed) {
      resolve();
      return;
    }
    // The callback runs after 'finish' (all data handed to the file) or on error.
    stream.end(() => resolve());
  });
}

export class LogFiles {
  private readonly appFile: AppendFile;
  private readonly errorFile: AppendFile;
  private readonly auditFile: AppendFile;
  private readonly opts: LogFilesOptions;
  private closed = false;

  constructor(opts: LogFilesOptions) {
    this.opts = opts;
    const onIoError =
      opts.onIoError ?? ((file, err) => process.stderr.write(`log ${file}: ${err.message}\n`));
    this.appFile = new AppendFile(join(opts.dir, 'app.log'), (err) => onIoError('app.log', err));
    this.errorFile = new AppendFile(join(opts.dir, 'error.log'), (err) => onIoError('error.log', err));
    this.auditFile = new AppendFile(join(opts.dir, 'audit.log'), (err) => onIoError('audit.log', err));
  }

  /**
   * A line in app.log. WARNING and above are also copied to stdout, which the lab's
   * `journalctl -u qnwis` shim shows, as the real service's stderr would be.
   */
  app(level: Level, logger: string, msg: string, fields: Fields = {}): void {
    const line = this.line({ level, logger, msg, fields });
    this.appFile.write(line);
    if (level === 'WARNING' || level === 'ERROR' || level === 'CRITICAL') this.opts.stdout?.(line);
  }

  /**
   * An error: written to error.log and, like Python's root handler does, to app.log too, so
   * `tail -f app.log` shows the whole story and `tail error.log | grep ERROR` only the failures.
   */
  error(logger: string, msg: string, fields: Fields = {}): void {
    const line = this.line({ level: 'ERROR', logger, msg, fields });
    this.errorFile.write(line);
    this.appFile.write(line);
    this.opts.stdout?.(line);
  }

  /** A line in audit.log; `event` names what happened (query, auth, maintenance). */
  audit(event: string, msg: string, fields: Fields = {}, level: Level = 'INFO'): void {
    this.auditFile.write(this.line({ level, logger: 'qnwis.audit', msg, fields: { event, ...fields } }));
  }

  /** Process lifecycle (uvicorn-style start-up and shutdown lines): app.log and stdout. */
  lifecycle(msg: string, fields: Fields = {}): void {
    const line = this.line({ level: 'INFO', logger: 'uvicorn.error', msg, fields });
    this.appFile.write(line);
    this.opts.stdout?.(line);
  }

  async reopen(): Promise<void> {
    if (this.closed) return;
    await Promise.all([this.appFile.reopen(), this.errorFile.reopen(), this.auditFile.reopen()]);
  }

  /** Flushes and closes all three files; later writes are dropped (the process is exiting). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.appFile.close(), this.errorFile.close(), this.auditFile.close()]);
  }

  private line(rec: { level: Level; logger: string; msg: string; fields: Fields }): string {
    // Field order matches the documented format: ts, level, logger, msg, then the fields.
    return `${JSON.stringify({
      ts: new Date().toISOString(),
      level: rec.level,
      logger: rec.logger,
      msg: rec.msg,
      host: this.opts.host,
      ...rec.fields,
    })}\n`;
  }
}

/**
 * Quotes a value for key=value text when it contains spaces or quotes, so
 * `error="connect ECONNREFUSED 127.0.0.1:5432"` stays one token for a log-pattern grouper.
 */
export function kv(value: unknown): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/**
 * Lets a repeating message through at most once per `intervalMs` per key and counts what it
 * held back, so an outage (every query's audit insert failing) does not flood the logs.
 */
export class Throttle {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** Returns the number of suppressed repeats to report, or null when this one is held back. */
  admit(key: string): number | null {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return null;
    }
    this.last.set(key, { at: t, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }

  /** Forgets a key, so the next occurrence is logged at once (used when a condition clears). */
  reset(key: string): void {
    this.last.delete(key);
  }
}
