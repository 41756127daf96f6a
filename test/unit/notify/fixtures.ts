/** What the notification tests share: a loopback receiver for deliveries, commits, and channel settings. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** a loopback receiver whose answer per request is chosen by the test */
export class Receiver {
  readonly got: Received[] = [];
  answer: (r: Received, n: number) => { status: number; delayMs?: number; headers?: Record<string, string> } = () => ({
    status: 200,
  });
  private server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const r = { path: req.url ?? '/', headers: req.headers, body, at: Date.now() };
      this.got.push(r);
      const a = this.answer(r, this.got.length);
      setTimeout(() => {
        res.writeHead(a.status, a.headers ?? {});
        res.end('ok');
      }, a.delayMs ?? 0);
    });
  });
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  reset(): void {
    this.got.length = 0;
    this.answer = () => ({ status: 200 });
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export const SHA1 = '1'.repeat(40);
export const SHA2 = '2'.repeat(40);
export const noSleep = () => Promise.resolve();

export const ALL = [
  'deployment.started',
  'deployment.completed',
  'deployment.failed',
  'deployment.rolled_back',
] as const;
export const PRIORITY = { started: 2, completed: 3, failed: 5, rolled_back: 4 };
export const TAGS = {
  started: ['rocket'],
  completed: ['white_check_mark'],
  failed: ['x'],
  rolled_back: ['rewind', 'warning'],
};
