/** `node tcp-echo.js [PORT]`: answers every TCP connection with "ok" and closes it. Prints `ready` once listening. */
import { createServer } from 'node:net';

const DEFAULT_PORT = 7;

const port = Number(process.argv[2] ?? DEFAULT_PORT);
const server = createServer((socket) => {
  socket.on('error', () => {});
  socket.end('ok');
});
server.listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
