import { request } from 'node:http';
import type { Fault, ImdsState, RequestLogEntry } from './imds-model.js';

const CONTROL_TIMEOUT_MS = 5_000;

/** Drives the IMDS emulator over its control socket. */
export class ImdsControl {
  constructor(private readonly socketPath: string) {}

  private call(method: string, path: string, body?: unknown): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, timeout: CONTROL_TIMEOUT_MS }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`imds control ${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(text);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`imds control ${method} ${path}: no answer in ${CONTROL_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async setState(state: ImdsState): Promise<void> {
    await this.call('PUT', '/state', state);
  }

  /** `path` is relative to /latest/meta-data/; `null` makes it answer 404. */
  async setOverride(path: string, body: string | null): Promise<void> {
    await this.call('PUT', '/override', { path, body });
  }

  async clearOverrides(): Promise<void> {
    await this.call('DELETE', '/overrides');
  }

  /** `path` is a full request path (`/latest/api/token`), or a prefix of one ending in `/`. */
  async setFault(path: string, fault: Fault): Promise<void> {
    if (!path.startsWith('/')) throw new Error(`fault path must be a request path starting with /: ${path}`);
    await this.call('PUT', '/fault', { path, fault });
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults');
  }

  async expireTokens(): Promise<void> {
    await this.call('POST', '/expire-tokens');
  }

  async requests(): Promise<RequestLogEntry[]> {
    return JSON.parse(await this.call('GET', '/log')) as RequestLogEntry[];
  }

  async clearLog(): Promise<void> {
    await this.call('DELETE', '/log');
  }

  /** Client connections to IMDS: open now, the most at once since the last reset, and how many were made. */
  async connections(): Promise<{ open: number; peak: number; total: number }> {
    return JSON.parse(await this.call('GET', '/connections')) as { open: number; peak: number; total: number };
  }

  /** Starts the peak over from the connections open now, and the count from zero. */
  async resetConnections(): Promise<void> {
    await this.call('DELETE', '/connections');
  }
}
