/**
 * KEY=value files in shell syntax (ifcfg files, ec2net.conf). We accept the subset initscripts' own files use
 * (KEY=value, optionally quoted, comments, blank lines) and refuse anything else rather than guess what a shell
 * would make of it: no expansions, no command substitution, no continuation lines.
 */
import { Ec2netError } from '../errors.js';

const LINE = /^([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"\\$`]*)"|'([^']*)'|([^\s"'\\$`;&|<>()]*))\s*(?:#.*)?$/;
const MAX_FILE_BYTES = 64 * 1024;

/** The file's KEY=value entries with the line (from 1) that set each; a later line overrides an earlier one. */
export function parseKeyValueLines(text: string, path: string): Map<string, { value: string; line: number }> {
  if (text.length > MAX_FILE_BYTES) throw new Ec2netError('InvalidArgument', 'file is too large for a KEY=value file', { path });
  if (text.includes('\0')) throw new Ec2netError('InvalidArgument', 'file contains NUL bytes', { path });
  const values = new Map<string, { value: string; line: number }>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = LINE.exec(line);
    if (!m) throw new Ec2netError('InvalidArgument', 'line is not KEY=value', { path, line: i + 1 });
    values.set(m[1] as string, { value: m[2] ?? m[3] ?? m[4] ?? '', line: i + 1 });
  });
  return values;
}

export function parseKeyValues(text: string, path: string): Map<string, string> {
  return new Map([...parseKeyValueLines(text, path)].map(([key, { value }]) => [key, value]));
}
