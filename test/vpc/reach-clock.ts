/**
 * `node reach-clock.js --port P --every MS --timeout MS ADDR...`: when each address first accepts a TCP connection.
 * Every MS milliseconds each address not yet reached gets a fresh connection attempt (the previous one is dropped):
 * a SYN that finds no route or no answer is never retried by TCP's own 1 s timer, so a reading is never more than
 * MS late. Prints `ready` once running, then one JSON object ADDR → the wall-clock time (ms since the epoch, to the
 * microsecond) of the first completed handshake, null for an address not reached within the timeout.
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string', default: '7' }, every: { type: 'string', default: '10' }, timeout: { type: 'string', default: '60000' } },
});
const port = Number(values.port);
const everyMs = Number(values.every);
const deadline = Date.now() + Number(values.timeout);
const wallNow = () => performance.timeOrigin + performance.now();

const reached = new Map<string, number | null>(positionals.map((a) => [a, null]));
const attempts = new Map<string, Socket>();

function attempt(addr: string): void {
  attempts.get(addr)?.destroy();
  const socket = connect({ host: addr, port });
  attempts.set(addr, socket);
  socket.on('error', () => {});
  socket.once('connect', () => {
    if (reached.get(addr) === null) reached.set(addr, Math.round(wallNow() * 1000) / 1000);
    socket.destroy();
  });
}

function finish(): void {
  clearInterval(timer);
  for (const s of attempts.values()) s.destroy();
  process.stdout.write(`${JSON.stringify(Object.fromEntries(reached))}\n`);
  process.exit(0);
}

const tick = () => {
  const pending = [...reached].filter(([, at]) => at === null).map(([a]) => a);
  if (pending.length === 0 || Date.now() >= deadline) return finish();
  for (const addr of pending) attempt(addr);
};
const timer = setInterval(tick, everyMs);
process.stdout.write('ready\n');
tick();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, finish);
