/**
 * The daemon's control socket: a unix stream socket under /run/ec2net, mode 0600 in a 0700 directory, so only
 * root can ask. One request line in ("status"), one JSON document out.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { chmod, mkdir, rm } from 'node:fs/promises';

export const CONTROL_TIMEOUT_MS = 2_000;
const MAX_REQUEST_BYTES = 256;

export function controlPath(runDir: string): string {
  return `${runDir}/ec2netd.sock`;
}

export async function serveControl(path: string, answer: (request: string) => Promise<unknown>): Promise<Server> {
  const dir = path.slice(0, path.lastIndexOf('/'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await rm(path, { force: true });
  const server = createServer((conn) => {
    let buf = '';
    conn.setTimeout(CONTROL_TIMEOUT_MS, () => conn.destroy());
    conn.on('error', () => undefined);
    conn.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      if (buf.length > MAX_REQUEST_BYTES) return conn.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      answer(buf.slice(0, nl).trim()).then(
        (v) => conn.end(`${JSON.stringify(v)}\n`),
        (e: unknown) => conn.end(`${JSON.stringify({ error: e instanceof Error ? e.message : String(e) })}\n`),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return server;
}

/** Asks the daemon; undefined when no daemon answers (not running, stale socket, timeout). */
export function askControl(path: string, request: string): Promise<unknown> {
  return new Promise((resolve) => {
    const conn = createConnection(path);
    let buf = '';
    const done = (v: unknown) => {
      conn.destroy();
      resolve(v);
    };
    conn.setTimeout(CONTROL_TIMEOUT_MS, () => done(undefined));
    conn.on('error', () => done(undefined));
    conn.on('connect', () => conn.write(`${request}\n`));
    conn.on('data', (c) => (buf += c.toString('utf8')));
    conn.on('end', () => {
      try {
        done(JSON.parse(buf));
      } catch {
        done(undefined);
      }
    });
  });
}
