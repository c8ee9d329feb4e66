/**
 * Structured logging with pino, in one of three formats: `json`, JSON lines; `text`, one readable line per record
 * (a terminal); `journal`, one readable line per record after its sd-daemon(3) priority prefix `<N>`, which
 * journald takes as the record's PRIORITY (SyslogLevelPrefix=, on by default). Identifiers (iface, mac, table,
 * key) travel as fields, never pasted into messages.
 */
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import { levels, pino, type Logger } from 'pino';

export type { Logger };

export const LOG_FORMATS = ['json', 'text', 'journal'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** pino's level names, and `silent` (nothing logged). */
export const LOG_LEVELS: readonly string[] = [...Object.keys(levels.values), 'silent'];

export function isLogFormat(s: string): s is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(s);
}

export function isLogLevel(s: string): boolean {
  return LOG_LEVELS.includes(s);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** syslog priorities of pino's levels: trace and debug are both LOG_DEBUG. */
const PRIORITIES: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };
/** Not shown as fields: level and msg are shown their own way; journald records the time, pid, host and identifier. */
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name']);
/** A string that reads unambiguously without quotes in `key=value`. */
const BARE = /^[^\s"=\p{Cc}]+$/u;

type LogRecord = Record<string, unknown>;

function fieldsOf(rec: LogRecord): [string, unknown][] {
  return Object.entries(rec).filter(([k]) => !OMIT.has(k));
}

function human(rec: LogRecord): string {
  const fields = fieldsOf(rec)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${rec.name ?? 'ec2net'}: ${LEVEL_NAMES[rec.level as number] ?? rec.level}: ${rec.msg ?? ''}${fields ? ` (${fields})` : ''}\n`;
}

function journalValue(v: unknown): string {
  return typeof v === 'string' && BARE.test(v) ? v : JSON.stringify(v);
}

/** pino's `err` (its serializer's object: type, message, stack, own properties) as its message and code. */
function journalField([k, v]: [string, unknown]): string {
  if (k === 'err' && typeof v === 'object' && v !== null && 'message' in v) {
    const { message, code } = v as { message: unknown; code?: unknown };
    return `err=${journalValue(message)}${code === undefined ? '' : ` err.code=${journalValue(code)}`}`;
  }
  return `${k}=${journalValue(v)}`;
}

/** journald ends a line at a newline or NUL: control characters but tab in the message are escaped as in JSON. */
function journal(rec: LogRecord): string {
  const msg = String(rec.msg ?? '').replace(/[\0-\x08\n-\x1f]/g, (c) => JSON.stringify(c).slice(1, -1));
  const text = [msg, ...fieldsOf(rec).map(journalField)].filter((s) => s !== '').join(' ');
  return `<${PRIORITIES[rec.level as number] ?? 6}>${text}\n`;
}

/**
 * Whether stderr is the stream systemd connected to journald: JOURNAL_STREAM holds that stream's DEVICE:INODE,
 * and is inherited by children that may have redirected stderr elsewhere (systemd.exec(5)).
 */
function stderrIsJournal(journalStream: string | undefined): boolean {
  const m = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(2, { bigint: true });
    return st.dev === BigInt(m[1] as string) && st.ino === BigInt(m[2] as string);
  } catch {
    return false;
  }
}

/** The format for stderr as it is: text on a terminal, journal on the journal's stream, JSON lines otherwise. */
export function detectLogFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  // isatty(2), not process.stderr.isTTY: the stream is only made once a line is written, and a command that has
  // nothing to say (a no-op re-run) never makes it.
  if (isatty(2)) return 'text';
  return stderrIsJournal(env.JOURNAL_STREAM) ? 'journal' : 'json';
}

/** `level` must be one of LOG_LEVELS (pino throws otherwise); `format` defaults to detectLogFormat(). */
export function createLogger(name: string, opts: { level?: string; format?: LogFormat } = {}): Logger {
  const format = opts.format ?? detectLogFormat();
  const render = format === 'text' ? human : format === 'journal' ? journal : undefined;
  const destination = {
    write(line: string) {
      if (render) {
        try {
          line = render(JSON.parse(line) as LogRecord);
        } catch {
          // pino writes one JSON object per line; anything else passes as it is.
        }
      }
      process.stderr.write(line);
    },
  };
  return pino({ name, level: opts.level ?? 'info', base: { pid: process.pid } }, destination);
}
