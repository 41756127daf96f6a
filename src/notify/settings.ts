import type { ResolvedConfig } from '../config/load.js';
import { ConfigError, type ConfigProblem } from '../config/problems.js';
import { safeDecode, type Redactor } from '../log/redact.js';
import type { NotifySettings } from './notifier.js';

/** the example config's and the templates' placeholders: CHANGE_ME, CHANGE-THIS, change_this … */
const URL_PLACEHOLDER_RE = /CHANGE[-_]?(?:ME|THIS)/i;

export interface NotifySources {
  /** the process environment of the deployer (CLI shell, action step env) */
  processEnv: Record<string, string | undefined>;
  /** the action's webhook-secret input: wins over secret_env */
  webhookSecret?: string;
  redactor: Redactor;
}

/**
 * Turns notifications: into channel settings, reading the values named by *_env from the env file (already
 * merged into the app environment) or the process environment. Every URL, key and token is registered as a
 * secret before anything can print it. Variables used only here are taken out of the app's environment: the
 * app has no use for the deployer's webhook key. Throws a ConfigError naming every missing variable.
 */
export function resolveNotifySettings(cfg: ResolvedConfig, src: NotifySources): NotifySettings {
  const n = cfg.config.notifications;
  const problems: ConfigProblem[] = [];
  const consumed = new Set<string>();
  /** the way out for an operator who does not use the channel: the example config ships them as comments */
  const removeIt = (key: string) => `remove notifications.${key.split('.')[0]} from ${cfg.configPath}`;
  const lookup = (key: string, name: string | undefined, required: boolean): string | undefined => {
    if (name === undefined) return undefined;
    consumed.add(name);
    const v = cfg.appEnv[name] ?? src.processEnv[name];
    if ((v === undefined || v === '') && required) {
      problems.push({
        file: cfg.configPath,
        path: `notifications.${key}`,
        message: `names ${name}, which neither the env file (${cfg.envFileSource}) nor the process environment defines`,
        remedy: `add ${name}=… to the env file, or export it for the deployer; or, if you do not use it, ${removeIt(key)}`,
        code: 'invalid',
      });
    }
    return v || undefined;
  };
  const url = (key: string, c: { url?: string; url_env?: string }): string | undefined => {
    const u = c.url ?? lookup(`${key}.url_env`, c.url_env, true);
    if (u !== undefined && c.url === undefined && !/^https?:\/\/[^\s]+$/i.test(u)) {
      problems.push({
        file: cfg.configPath,
        path: `notifications.${key}.url_env`,
        message: `the value of ${c.url_env} is not an http(s) URL`,
        code: 'invalid',
      });
    }
    // a placeholder copied from the example: every such copy would publish to the same (public) topic
    if (u !== undefined && URL_PLACEHOLDER_RE.test(u)) {
      problems.push({
        file: cfg.configPath,
        path: `notifications.${key}.${c.url === undefined ? 'url_env' : 'url'}`,
        message:
          c.url === undefined
            ? `the value of ${c.url_env} still holds a placeholder (CHANGE_ME or CHANGE-THIS)`
            : 'still holds a placeholder (CHANGE_ME or CHANGE-THIS)',
        remedy:
          key === 'ntfy'
            ? `use a topic of your own that nobody can guess (e.g. togather-$(openssl rand -hex 12)), better one with ` +
              `access control through url_env and token_env in the env file; or ${removeIt(key)}`
            : `put the real URL in its place; or, if you do not use it, ${removeIt(key)}`,
        code: 'placeholder',
      });
    }
    return u;
  };

  const out: NotifySettings = {};
  if (n.webhook) {
    const w = n.webhook;
    const u = url('webhook', w);
    const secret = src.webhookSecret || lookup('webhook.secret_env', w.secret_env, true);
    if (u)
      out.webhook = {
        url: u,
        ...(secret ? { secret } : {}),
        events: w.events,
        timeoutMs: w.timeout,
        retries: w.retries,
      };
  }
  if (n.ntfy) {
    const t = n.ntfy;
    const u = url('ntfy', t);
    const token = lookup('ntfy.token_env', t.token_env, false); // empty: a topic without access control
    if (u)
      out.ntfy = {
        url: u,
        ...(token ? { token } : {}),
        events: t.events,
        priority: t.priority,
        tags: t.tags,
        timeoutMs: t.timeout,
        retries: t.retries,
      };
  }
  for (const v of [out.webhook?.url, out.webhook?.secret, out.ntfy?.url, out.ntfy?.token])
    registerSecret(src.redactor, v);
  if (src.webhookSecret) registerSecret(src.redactor, src.webhookSecret);
  if (problems.length) throw new ConfigError(problems);

  const keep = new Set(cfg.config.app.required_env);
  for (const k of consumed) if (!keep.has(k)) delete cfg.appEnv[k];
  return out;
}

/**
 * A URL's token often sits in a path segment or query value, which may be printed apart from the URL: those
 * that look generated (long, letters and digits) are masked too. Plain words are left alone, or "/togather"
 * would be masked in every path.
 */
function registerSecret(redactor: Redactor, value: string | undefined): void {
  if (!value) return;
  redactor.add(value);
  try {
    const u = new URL(value);
    if (u.password) redactor.add(u.password);
    const parts = [...u.pathname.split('/'), ...[...u.searchParams.values()]].map(safeDecode);
    for (const p of parts) if (p.length >= 12 && /[0-9]/.test(p) && /[A-Za-z]/.test(p)) redactor.add(p);
  } catch {
    // not a URL: the value itself is registered
  }
}
