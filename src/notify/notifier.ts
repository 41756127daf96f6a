import { createHmac, randomUUID } from 'node:crypto';
import type { NotifyEventName } from '../config/schema.js';
import { EVENT_SHORT, messageText, type DeploymentEvent } from './event.js';

type Short = 'started' | 'completed' | 'failed' | 'rolled_back';

export interface WebhookSettings {
  url: string;
  /** HMAC-SHA256 key; unsigned requests without it */
  secret?: string;
  events: readonly NotifyEventName[];
  timeoutMs: number;
  retries: number;
}

export interface NtfySettings {
  /** topic URL, e.g. https://ntfy.sh/togather-deploys */
  url: string;
  token?: string;
  events: readonly NotifyEventName[];
  priority: Record<Short, number>;
  tags: Record<Short, string[]>;
  timeoutMs: number;
  retries: number;
}

export interface NotifySettings {
  webhook?: WebhookSettings;
  ntfy?: NtfySettings;
}

export type Channel = 'webhook' | 'ntfy';

export interface DeliveryReport {
  channel: Channel;
  event: NotifyEventName;
  deployment_id: string;
  ok: boolean;
  attempts: number;
  /** last HTTP status, 0 when none came back */
  status: number;
  error?: string;
  ms: number;
}

export interface NotifierDeps {
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** called once per finished delivery (success or final failure) */
  onResult?: (r: DeliveryReport) => void;
  userAgent?: string;
}

export const SIGNATURE_HEADER = 'X-Togather-Signature-256';
export const TIMESTAMP_HEADER = 'X-Togather-Timestamp';
export const EVENT_HEADER = 'X-Togather-Event';
export const DELIVERY_HEADER = 'X-Togather-Delivery';

/**
 * The signature a receiver recomputes: HMAC-SHA256 over "<timestamp>.<raw body>", hex, prefixed "sha256=".
 * The timestamp (unix seconds, sent in X-Togather-Timestamp) is inside the MAC so a captured request cannot be
 * replayed later with a fresh timestamp; receivers should refuse timestamps more than a few minutes old.
 */
export function signPayload(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

interface Request {
  url: string;
  headers: Record<string, string>;
  body: string;
}

interface AttemptResult {
  ok: boolean;
  status: number;
  error?: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/**
 * Sends deployment events to the configured channels, from the runner. Each channel keeps its own queue, so a
 * receiver sees one deployment's events in order even when an earlier one is still being retried, and a slow
 * channel never holds up another. Nothing here throws: every outcome becomes a DeliveryReport.
 */
export class Notifier {
  readonly deliveries: DeliveryReport[] = [];
  private readonly queues = new Map<Channel, Promise<unknown>>();
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    readonly settings: NotifySettings,
    private readonly deps: NotifierDeps = {},
  ) {
    this.fetchFn = deps.fetch ?? fetch;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.now = deps.now ?? Date.now;
  }

  get enabled(): boolean {
    return !!(this.settings.webhook || this.settings.ntfy);
  }

  /** queues the event on every channel that wants it; resolves once this event's deliveries are finished */
  send(e: DeploymentEvent): Promise<DeliveryReport[]> {
    const jobs: Promise<DeliveryReport>[] = [];
    const { webhook, ntfy } = this.settings;
    if (webhook?.events.includes(e.event))
      jobs.push(
        this.enqueue('webhook', () =>
          this.deliver('webhook', e, webhookRequest(webhook, e, this.deps.userAgent), webhook),
        ),
      );
    if (ntfy?.events.includes(e.event))
      jobs.push(this.enqueue('ntfy', () => this.deliver('ntfy', e, ntfyRequest(ntfy, e, this.deps.userAgent), ntfy)));
    return Promise.all(jobs);
  }

  /** waits for everything queued so far */
  async settle(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }

  private enqueue(channel: Channel, job: () => Promise<DeliveryReport>): Promise<DeliveryReport> {
    const prev = this.queues.get(channel) ?? Promise.resolve();
    const next = prev.then(job, job);
    this.queues.set(
      channel,
      next.catch(() => undefined),
    );
    return next;
  }

  private async deliver(
    channel: Channel,
    e: DeploymentEvent,
    build: (attempt: number) => Request,
    limits: { timeoutMs: number; retries: number },
  ): Promise<DeliveryReport> {
    const started = this.now();
    let last: AttemptResult = { ok: false, status: 0, retryable: false, error: 'not sent' };
    let attempts = 0;
    for (let i = 0; i <= limits.retries; i++) {
      attempts++;
      last = await this.attempt(build(i), limits.timeoutMs);
      if (last.ok || !last.retryable || i === limits.retries) break;
      await this.sleep(backoffMs(i, last.retryAfterMs));
    }
    const report: DeliveryReport = {
      channel,
      event: e.event,
      deployment_id: e.deployment_id,
      ok: last.ok,
      attempts,
      status: last.status,
      ...(last.ok ? {} : { error: last.error ?? `HTTP ${last.status}` }),
      ms: this.now() - started,
    };
    this.deliveries.push(report);
    this.deps.onResult?.(report);
    return report;
  }

  private async attempt(req: Request, timeoutMs: number): Promise<AttemptResult> {
    let res: Response;
    try {
      // no redirects: a signed body must reach the configured endpoint or nothing
      res = await this.fetchFn(req.url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      return { ok: false, status: 0, retryable: true, error: describeFetchError(err, timeoutMs) };
    }
    // the body is not needed; reading it frees the connection
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, retryable: false };
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    const ra = Number(res.headers.get('retry-after'));
    return {
      ok: false,
      status: res.status,
      retryable,
      error: `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`,
      ...(Number.isFinite(ra) && ra > 0 ? { retryAfterMs: ra * 1000 } : {}),
    };
  }
}

/** 0.5 s, 1 s, 2 s, 4 s, capped at 8 s, with ±20 % jitter; a Retry-After up to 15 s is honoured */
export function backoffMs(attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, 15_000);
  const base = Math.min(8000, 500 * 2 ** attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  // the cause names the failure (ECONNREFUSED, ENOTFOUND …) without the URL, which may hold a token
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

function webhookRequest(
  s: WebhookSettings,
  e: DeploymentEvent,
  userAgent = 'togather-deploy',
): (attempt: number) => Request {
  const body = JSON.stringify(e);
  // one delivery id for all attempts: a receiver that saw the first attempt can drop a retry
  const delivery = randomUUID();
  return () => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': userAgent,
      [EVENT_HEADER]: e.event,
      [DELIVERY_HEADER]: delivery,
      [TIMESTAMP_HEADER]: timestamp,
    };
    if (s.secret) headers[SIGNATURE_HEADER] = signPayload(s.secret, timestamp, body);
    return { url: s.url, headers, body };
  };
}

/** ntfy's publish API: the message is the body, the rest are headers (https://docs.ntfy.sh/publish/) */
function ntfyRequest(s: NtfySettings, e: DeploymentEvent, userAgent = 'togather-deploy'): (attempt: number) => Request {
  const short = EVENT_SHORT[e.event];
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'user-agent': userAgent,
    title: headerSafe(`togather ${e.environment}: ${titleWord[short]}`),
    priority: String(s.priority[short]),
  };
  const tags = s.tags[short];
  if (tags.length) headers.tags = tags.join(',');
  if (e.run_url) headers.click = headerSafe(e.run_url);
  if (s.token) headers.authorization = `Bearer ${s.token}`;
  const body = messageText(e);
  return () => ({ url: s.url, headers, body });
}

const titleWord: Record<Short, string> = {
  started: 'deploy started',
  completed: 'deploy completed',
  failed: 'deploy FAILED',
  rolled_back: 'ROLLED BACK',
};

/** header values must be one line of visible ASCII */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 250);
}
