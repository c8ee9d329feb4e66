/**
 * `node probe.js --port P --timeout MS ADDR...`: connects to every ADDR in parallel and prints a JSON
 * object ADDR → true when the peer answered "ok".
 */
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string', default: '7' }, timeout: { type: 'string', default: '2000' } },
});

function probe(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect({ host, port: Number(values.port) });
    const timer = setTimeout(() => socket.destroy(), Number(values.timeout));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received === 'ok');
    });
  });
}

const results = await Promise.all(positionals.map(async (addr) => [addr, await probe(addr)] as const));
process.stdout.write(`${JSON.stringify(Object.fromEntries(results))}\n`);
