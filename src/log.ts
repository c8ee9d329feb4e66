/**
 * Structured logging with pino: JSON lines (journald keeps them), or one readable line per record when stderr is
 * a terminal. Identifiers (iface, mac, table, key) travel as fields, never pasted into messages.
 */
import { isatty } from 'node:tty';
import { pino, type Logger } from 'pino';

export type { Logger };

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name']);

function human(line: string): string {
  try {
    const rec = JSON.parse(line) as Record<string, unknown>;
    const fields = Object.entries(rec)
      .filter(([k]) => !OMIT.has(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${rec.name ?? 'ec2net'}: ${LEVEL_NAMES[rec.level as number] ?? rec.level}: ${rec.msg ?? ''}${fields ? ` (${fields})` : ''}\n`;
  } catch {
    return line;
  }
}

export function createLogger(name: string, opts: { level?: string; pretty?: boolean } = {}): Logger {
  // isatty(2), not process.stderr.isTTY: the stream is only made once a line is written, and a command that has
  // nothing to say (a no-op re-run) never makes it.
  const pretty = opts.pretty ?? isatty(2);
  const destination = {
    write(line: string) {
      process.stderr.write(pretty ? human(line) : line);
    },
  };
  return pino({ name, level: opts.level ?? 'info', base: { pid: process.pid } }, destination);
}
