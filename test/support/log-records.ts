/**
 * JSON log lines read from a child's stderr as they arrive, with a way to wait for a matching record.
 */
import type { Readable } from 'node:stream';

export type LogRecord = Record<string, unknown>;

export class LogRecords {
  readonly records: LogRecord[] = [];
  /** Everything read, as text. */
  text = '';
  private buf = '';
  private readonly waiters: { match: (r: LogRecord) => boolean; resolve: (r: LogRecord | undefined) => void }[] = [];

  constructor(stream: Readable) {
    stream.setEncoding('utf8').on('data', (d: string) => {
      this.text += d;
      this.buf += d;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        let rec: LogRecord;
        try {
          rec = JSON.parse(line) as LogRecord;
        } catch {
          rec = { msg: line, unparsed: true };
        }
        this.records.push(rec);
        for (const w of [...this.waiters]) {
          if (w.match(rec)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(rec);
          }
        }
      }
    });
  }

  /** The first record from now on that matches, or undefined after timeoutMs. */
  next(match: (r: LogRecord) => boolean, timeoutMs: number): Promise<LogRecord | undefined> {
    return new Promise((resolve) => {
      const w = {
        match,
        resolve: (r: LogRecord | undefined) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}
