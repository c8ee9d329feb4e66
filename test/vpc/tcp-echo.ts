/**
 * `node tcp-echo.js [PORT]`: answers every TCP connection, IPv4 or IPv6, with "ok" and closes it. Prints `ready`
 * once listening.
 */
import { createServer } from 'node:net';

const DEFAULT_PORT = 7;

const port = Number(process.argv[2] ?? DEFAULT_PORT);
const server = createServer((socket) => {
  socket.on('error', () => {});
  socket.end('ok');
});
// `::` without ipv6Only is one dual-stack socket: IPv4 peers arrive as ::ffff:a.b.c.d.
server.listen({ port, host: '::', ipv6Only: false }, () => process.stdout.write('ready\n'));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
