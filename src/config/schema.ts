import { z } from 'zod';
import { parseDuration } from './duration.js';
import { offsiteSnapshotKeys } from './offsite-schema.js';

/**
 * The schema of config/deployment.yml. Durations are written with units ("2s") and parsed to milliseconds.
 * Names that reach the host (stack, paths, images, users) are restricted to safe character sets here, so no
 * configured value can carry shell or path tricks to the host even before quoting.
 */
export const DURATION_RE = /^\s*\d+(?:\.\d+)?(?:ms|s|m|h)\s*$/;
export const DURATION_HINT = 'write a number with a unit: 500ms, 2s, 10m or 1h';
const durationText = z.string().regex(DURATION_RE, DURATION_HINT);
const toMs = (s: string, ctx: { addIssue(issue: { code: 'custom'; message: string }): void }): number => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; ${DURATION_HINT}` });
    return z.NEVER;
  }
  return ms;
};
const duration = (def: string) => durationText.default(def).transform(toMs);
/** a duration without a default, for per-environment overrides that must not mask the top-level value */
const optionalDuration = () =>
  durationText.optional().transform((s, ctx) => (s === undefined ? undefined : toMs(s, ctx)));

export const NAME_RE = /^[a-z][a-z0-9-]{0,39}$/;
const name = z.string().regex(NAME_RE, 'use lowercase letters, digits and "-", starting with a letter (max 40)');
/** docker image reference without tag: registry/path/name */
export const IMAGE_REPO_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
/** a full image reference, tag or digest included, e.g. caddy:2.8 or postgis/postgis:16-3.4 */
export const IMAGE_REF_RE =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const imageRef = z
  .string()
  .regex(IMAGE_REF_RE, 'write a full image reference without shell characters, e.g. caddy:2.8');
/** a POSIX path (absolute, or relative to the deploy user's home) without "..", whitespace or shell metacharacters */
export const HOST_PATH_RE = /^\/?(?:[A-Za-z0-9_][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const hostPath = z
  .string()
  // the ".." check first: its message is the precise one when both fail (the loader keeps one issue per key)
  .refine((p) => !p.split('/').includes('..'), 'remove "..": a path may not climb out of its directory')
  .regex(
    HOST_PATH_RE,
    'use letters, digits, "_", "-", "." and "/" only (a relative path starts in the deploy user\'s home)',
  );
export const HOSTNAME_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[?[0-9a-fA-F:.]+\]?$/;
export const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
/** names of the app's environment variables */
export const ENV_KEY_RE = /^[A-Z_][A-Z0-9_]*$/;
const envKey = z.string().regex(ENV_KEY_RE, 'use capitals, digits and "_" (e.g. LOG_LEVEL)');
/** a file or directory on the runner, relative to the config file's directory */
const localPath = z
  .string()
  .min(1)
  .refine((p) => !/[\0\r\n]/.test(p), 'write the path on one line');
const urlPath = z.string().regex(/^\/[A-Za-z0-9_./-]*$/, 'write an absolute URL path such as /health');

export const DEFAULT_REQUIRED_ENV = ['ENVIRONMENT', 'DATABASE_URL', 'JWT_SECRET'];
export const DEFAULT_PUBLIC_ENV = ['ENVIRONMENT', 'LOG_LEVEL', 'TZ', 'PORT', 'SERVER_PORT', 'HOST'];

export const HealthSchema = z
  .object({
    path: urlPath.default('/health').describe('health endpoint of the app (JSON with status and checks)'),
    version_path: urlPath.default('/version').describe('endpoint reporting git_commit, used to verify the switch'),
    interval: duration('100ms').describe(
      "pause between health probes (they run inside the colour's gate, about a second of them per round trip; 50ms while the app does not answer yet)",
    ),
    timeout: duration('2s').describe('timeout of one health probe'),
    consecutive: z.number().int().min(1).max(20).default(2).describe('how many passes in a row make a colour healthy'),
    start_timeout: duration('60s').describe('the longest a new colour may take to become healthy, boot included'),
    allow_degraded: z.boolean().default(false).describe('accept status "degraded" as healthy'),
    required_checks: z
      .array(z.string().regex(/^[a-z_]+$/, 'use lowercase letters and "_" (e.g. database)'))
      .default([])
      .describe('checks (by name in the /health "checks" object) that must be present and not "fail"'),
  })
  .strict();

export const AppSchema = z
  .object({
    name: name.default('togather').describe('application name; the stack on the host is <name>-<environment>'),
    port: z.number().int().min(1).max(65535).default(8080).describe('port the app listens on inside its container'),
    image: z
      .string()
      .regex(
        IMAGE_REPO_RE,
        'write an image repository without tag or shell characters, e.g. ghcr.io/togather/server (the tag is always the commit SHA)',
      )
      .describe("image repository; the tag is always the deployed commit's full SHA"),
    build: z
      .object({
        context: z.string().min(1).default('.'),
        dockerfile: z.string().min(1).default('docker/Dockerfile'),
      })
      .strict()
      .optional()
      .describe('build on the runner (and ship over SSH) when the image is not already there'),
    pull: z.boolean().default(false).describe('pull on the host from a registry instead of shipping from the runner'),
    ship: z
      .enum(['layers', 'full'])
      .default('layers')
      .describe(
        'how a shipped image travels: "layers" sends only the layers the host lacks (the whole image when that ' +
          'fails); "full" always sends the whole image (a troubleshooting switch)',
      ),
    health: HealthSchema.default(HealthSchema.parse({})),
    env: z
      .record(envKey, z.string())
      .default({})
      .describe("non-secret defaults for the app's environment; the env file and process env override them"),
    required_env: z
      .array(envKey)
      .default(DEFAULT_REQUIRED_ENV)
      .describe('keys the final app environment must define (with a value that is not a CHANGE_ME placeholder)'),
    public_env: z
      .array(envKey)
      .default(DEFAULT_PUBLIC_ENV)
      .describe('keys whose values are not secret; every other value of the app environment is masked in logs'),
  })
  .strict();

const WatchObjectSchema = z
  .object({
    duration: duration('0s').describe(
      'how long to watch health through the proxy after the switch; 0s disables the watch',
    ),
    interval: duration('2s').describe('pause between two probes'),
    failure_threshold: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(3)
      .describe('failed probes in a row that switch back to the previous colour'),
  })
  .strict();
export const WatchSchema = z
  // a bare duration is the common case: the defaults of the rest apply
  .union([durationText.transform((s) => WatchObjectSchema.parse({ duration: s })), WatchObjectSchema])
  .describe('post-deploy watch window: a duration (e.g. 10m) or {duration, interval, failure_threshold}');

export const DeploymentPolicySchema = z
  .object({
    drain_timeout: duration('30s').describe(
      'after the switch, how long the old colour keeps its in-flight requests before it is stopped',
    ),
    switch_settle: duration('1000ms').describe(
      'wait after a gate flip the tool cannot watch through the proxy (a switch back, a restore); at least proxy.health_interval + health_timeout + 200ms',
    ),
    verify_timeout: duration('15s').describe('how long verification through the proxy may take'),
    lock: z
      .object({
        timeout: duration('30m').describe('a lock older than this is stale and may be taken over'),
        wait: duration('0s').describe('wait this long for a held lock before failing; 0s fails at once'),
      })
      .strict()
      .default({ timeout: 30 * 60_000, wait: 0 } as never),
    keep_images: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(5)
      .describe('how many earlier app images to keep on the host as rollback targets'),
    history_limit: z.number().int().min(5).max(1000).default(50).describe("entries kept in state.json's history"),
    keep_logs: z
      .number()
      .int()
      .min(5)
      .max(10000)
      .default(100)
      .describe('per-deployment JSON-lines logs kept on the host (newest first); cleanup removes the rest'),
    history_file_max_kb: z
      .number()
      .int()
      .min(64)
      .default(1024)
      .describe('history.jsonl is rotated to history.jsonl.1 when it grows past this size'),
    min_free_mb: z
      .number()
      .int()
      .min(0)
      .default(1024)
      .describe("minimum free disk on the host's docker and deploy paths, in MiB"),
    watch: WatchSchema.prefault({}).describe(
      'after the switch, watch health through the proxy and switch back on failures (a duration such as 10m, or an object)',
    ),
    keeper: z
      .boolean()
      .default(true)
      .describe(
        "run the stack's keeper: after a daemon restart or a reboot it starts a routed colour's app that lost the " +
          'start-up race with its gate (it mounts the Docker socket; see docs/security.md)',
      ),
  })
  .strict()
  // the lock is held through the watch: a window that outlasts it would let another deployer take it over
  .refine((d) => d.watch.duration <= d.lock.timeout / 2, {
    path: ['watch'],
    message: 'the watch must last at most half of deployment.lock.timeout (the lock is held through it)',
  });

const domain = z
  .string()
  .regex(/^[A-Za-z0-9.*-]+(?::[0-9]+)?$/, 'write a host name, optionally with :port (e.g. togather.example)');
const port = z.number().int().min(1).max(65535);
const bindAddress = z.string().regex(/^[0-9a-fA-F:.]+$/, 'write an IP address such as 0.0.0.0 or 127.0.0.1');

export const ProxySchema = z
  .object({
    domains: z
      .array(domain)
      .default([])
      .describe('public site addresses for Caddy (automatic HTTPS); empty serves plain HTTP on http_port'),
    http_port: port.default(80),
    https_port: port.default(443),
    bind: bindAddress.default('0.0.0.0').describe("address Caddy's ports are published on; 0.0.0.0 for a public host"),
    health_interval: duration('500ms').describe("interval of Caddy's active health check of each colour's gate"),
    health_timeout: duration('400ms'),
    caddyfile: localPath
      .optional()
      .describe(
        'your own Caddyfile for the site (relative to the config file); it must import togather.caddy for the upstreams. Default: one generated from domains',
      ),
    front: z
      .boolean()
      .default(false)
      .describe(
        "serve the domains through the host's shared front proxy (front_proxy), which holds 80/443 and the " +
          'certificates for every environment on the host; http_port, https_port and bind are then not used',
      ),
  })
  .strict();

/**
 * Per-environment proxy overrides. Written out rather than ProxySchema.partial(): zod 4 still applies inner
 * defaults under .partial(), so an override naming one field would reset every other to its default and mask
 * the top-level settings.
 */
export const ProxyOverrideSchema = z
  .object({
    domains: z.array(domain).optional(),
    http_port: port.optional(),
    https_port: port.optional(),
    bind: bindAddress.optional(),
    health_interval: optionalDuration(),
    health_timeout: optionalDuration(),
    caddyfile: localPath.optional(),
    front: z.boolean().optional(),
  })
  .strict();

/** Per-environment monitoring overrides: written out for the same reason as ProxyOverrideSchema. */
export const MonitoringOverrideSchema = z
  .object({
    enabled: z.boolean().optional().describe('monitoring.enabled for this environment'),
    prometheus: z
      .object({
        bind: bindAddress.optional().describe('monitoring.prometheus.bind for this environment'),
        port: port.optional().describe("this environment's Prometheus port (each environment on a host needs its own)"),
      })
      .strict()
      .optional()
      .describe("this environment's Prometheus address"),
    grafana: z
      .object({
        enabled: z.boolean().optional().describe('monitoring.grafana.enabled for this environment'),
        bind: bindAddress.optional().describe('monitoring.grafana.bind for this environment'),
        port: port.optional().describe("this environment's Grafana port (each environment on a host needs its own)"),
      })
      .strict()
      .optional()
      .describe("this environment's Grafana address"),
  })
  .strict();

/**
 * The host's front proxy, shared by every environment whose proxy.front is true: one Caddy that publishes 80/443,
 * obtains each registered domain's certificate over ACME and routes it to that environment's own Caddy.
 */
export const FrontProxySchema = z
  .object({
    path: hostPath.default('togather/front').describe("the front proxy's directory on the host"),
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,40}$/, 'use lowercase letters, digits and "-"')
      .default('togather-front')
      .describe('compose project, container and Docker network of the front proxy'),
    http_port: port.default(80).describe('host port the front proxy publishes for HTTP (ACME HTTP-01, redirects)'),
    https_port: port.default(443).describe('host port the front proxy publishes for HTTPS'),
    bind: bindAddress.default('0.0.0.0').describe("address the front proxy's ports are published on"),
    email: z
      .string()
      .regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'write a plain e-mail address')
      .optional()
      .describe('ACME account e-mail (certificate expiry notices)'),
    acme_ca: z
      .string()
      .regex(/^https:\/\/[A-Za-z0-9.-]+(:[0-9]+)?(\/[A-Za-z0-9._~/-]*)?$/, 'write an https:// ACME directory URL')
      .optional()
      .describe("ACME directory URL; default Let's Encrypt"),
    acme_ca_root: localPath
      .optional()
      .describe(
        "PEM file of the CA that signs the ACME server's own TLS certificate, for a private ACME server (relative to the config file)",
      ),
  })
  .strict();

export const ImagesSchema = z
  .object({
    caddy: imageRef.default('caddy:2.8'),
    postgres: imageRef.default('postgis/postgis:16-3.4'),
    gate: imageRef.default('busybox:1.36').describe('the per-colour gate: any image with busybox httpd'),
    keeper: imageRef
      .default('docker:27-cli')
      .describe('the keeper (deployment.keeper): any image with sh and a docker CLI'),
    postgres_dockerfile: z
      .union([z.literal('builtin'), z.literal('none'), localPath])
      .default('builtin')
      .describe(
        "extends images.postgres for the stack's database, built on the host when missing: " +
          'builtin (docker/db/Dockerfile: adds pgvector), none (run images.postgres as it is), ' +
          'or a Dockerfile of yours (ARG BASE; FROM ${BASE})',
      ),
  })
  .strict();

/** an absolute path inside a container image */
const imagePath = z
  .string()
  .regex(/^\/(?:[A-Za-z0-9_][A-Za-z0-9_.-]*\/?)*$/, 'write an absolute path such as /app/migrations');

export const MigrationsSchema = z
  .object({
    image: imageRef
      .default('migrate/migrate:v4.19.0')
      .describe(
        "image of golang-migrate (or a tool with the same command line), run once per deploy on the stack's network",
      ),
    path: imagePath
      .default('/app/migrations')
      .describe(
        'where the release image keeps its migration files; the deployer copies them out of the image (nothing of the image runs)',
      ),
    command: z
      .array(z.string().min(1).max(200))
      .min(1)
      .default(['-path', '{path}', '-database', '{database}', 'up'])
      .describe(
        'arguments of the migrate container; {path} is the migrations directory inside it, ' +
          '{database} the DATABASE_URL without its password (the password reaches the tool as PGPASSWORD)',
      ),
    timeout: duration('15m').describe(
      'the longest the migrate container may run; it is removed after that and the deploy fails',
    ),
  })
  .strict();

export const SnapshotsSchema = z
  .object({
    when: z
      .enum(['pending-migrations', 'every-deploy'])
      .default('pending-migrations')
      .describe('pending-migrations: a deploy snapshots only when it has migrations to run; every-deploy: always'),
    retention_days: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(7)
      .describe(
        'a snapshot may be removed this many days after it was taken (unless it is the newest or a deployment in the history names it)',
      ),
    path: hostPath
      .optional()
      .describe("directory of the snapshots on the host; default snapshots/ under the environment's path"),
    timeout: duration('30m').describe('the longest pg_dump (or a restore) may take'),
    ...offsiteSnapshotKeys(optionalDuration()),
  })
  .strict();

export const DatabaseSchema = z
  .object({
    managed: z
      .boolean()
      .default(true)
      .describe('run the bundled PostgreSQL service; false when DATABASE_URL points elsewhere'),
    name: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'use lowercase letters, digits and "_"')
      .default('togather'),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'use lowercase letters, digits and "_"')
      .default('togather'),
    init_dir: localPath
      .optional()
      .describe(
        'directory of SQL/shell scripts run when the database is first created (relative to the config file); ' +
          'default: the bundled one, which creates the extensions',
      ),
    migrations: MigrationsSchema.prefault({}).describe(
      'golang-migrate migrations, run by every deploy before the new colour starts',
    ),
    snapshots: SnapshotsSchema.prefault({}).describe(
      'pg_dump snapshots: before migrations, and on demand (snapshot create)',
    ),
  })
  .strict();

// --- Provider: where the colours run ------------------------------------------------------------------------

/** a Swarm node label key, e.g. togather.edge */
export const NODE_LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$/;
const nodeLabel = z.string().regex(NODE_LABEL_RE, 'write a label key of letters, digits, ".", "_" and "-"');
/** a Swarm placement constraint: node.<attribute> == or != a plain value */
export const PLACEMENT_RE =
  /^node\.(?:labels\.[A-Za-z0-9_.-]+|role|hostname|id|platform\.os|platform\.arch)\s*(?:==|!=)\s*[A-Za-z0-9_.-]+$/;

export const SwarmNodeSchema = z
  .object({
    host: z
      .string()
      .regex(HOSTNAME_RE, 'write only a host name or IP address')
      .describe("the node's SSH address (as the manager sees it when reached through the manager)"),
    port: port.optional().describe("SSH port; default the environment's port"),
    user: z
      .string()
      .regex(USER_RE, 'write a POSIX user name: lowercase letters, digits, "_" and "-"')
      .optional()
      .describe("SSH user; default the environment's user"),
    via: z
      .enum(['manager', 'direct'])
      .default('manager')
      .describe('reach the node through the SSH manager (a pinned ProxyCommand; the default) or directly'),
  })
  .strict();

const PROVIDER_KIND =
  'compose: one Docker host over SSH, the stack run by Docker Compose (the default); ' +
  'swarm: a Docker Swarm reached through one SSH manager (docs/swarm.md)';

export const ComposeProviderSchema = z.object({ kind: z.literal('compose').describe(PROVIDER_KIND) }).strict();

export const SwarmProviderSchema = z
  .object({
    kind: z.literal('swarm').describe(PROVIDER_KIND),
    replicas: z.number().int().min(1).max(20).default(2).describe("the app's tasks per colour"),
    placement: z
      .array(z.string().regex(PLACEMENT_RE, 'write a constraint such as node.labels.togather.app == true'))
      .default([])
      .describe("extra placement constraints of the app's tasks"),
    edge_label: nodeLabel
      .default('togather.edge')
      .describe("label (=true) of the edge node that runs Caddy and the colours' gates; it must be the SSH manager"),
    db_label: nodeLabel
      .default('togather.db')
      .describe('label (=true) of the node the managed database is pinned to (its volume is local to that node)'),
    scale_timeout: duration('120s').describe("the longest the new colour's tasks may take to run and be healthy"),
    nodes: z
      .array(SwarmNodeSchema)
      .default([])
      .describe(
        'SSH to the other nodes that can run the app, so images reach them without a registry (the manager always gets them)',
      ),
  })
  .strict();

export const ProviderSchema = z
  .discriminatedUnion('kind', [ComposeProviderSchema, SwarmProviderSchema])
  .describe('where the colours run: compose (one Docker host, the default) or swarm');

export const EnvironmentSchema = z
  .object({
    host: z
      .string()
      .regex(HOSTNAME_RE, 'write only a host name or IP address (the user goes in user:, the SSH port in port:)')
      .describe('SSH host name or IP address'),
    port: port.default(22).describe('SSH port'),
    user: z
      .string()
      .regex(USER_RE, 'write a POSIX user name: lowercase letters, digits, "_" and "-"')
      .default('deploy')
      .describe('SSH user on the host'),
    path: hostPath
      .optional()
      .describe("where this environment lives on the host; default togather/<environment> in the deploy user's home"),
    env_file: localPath
      .optional()
      .describe("env file with the app's settings and secrets for this environment (relative to the config file)"),
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('public URL, reported as the deployment URL'),
    proxy: ProxyOverrideSchema.optional().describe('overrides of the top-level proxy settings for this environment'),
    monitoring: MonitoringOverrideSchema.optional().describe(
      "overrides of the top-level monitoring settings for this environment: on a shared host, each environment's own ports",
    ),
    provider: ProviderSchema.optional().describe(
      "this environment's own provider block, replacing the top-level one as a whole",
    ),
  })
  .strict();

// --- Notifications, post-deploy watch, monitoring -------------------------------------------------------------

export const NOTIFY_EVENTS = [
  'deployment.started',
  'deployment.completed',
  'deployment.failed',
  'deployment.rolled_back',
] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];
const notifyEvents = z
  .array(z.enum(NOTIFY_EVENTS))
  .min(1)
  .default([...NOTIFY_EVENTS]);
const notifyUrl = z.url({ protocol: /^https?$/ });
/** a channel's URL may embed a token: it is masked everywhere, and it may come from the env file instead */
const channelUrl = {
  url: notifyUrl
    .optional()
    .describe('endpoint URL; a token inside it is masked in every log. Prefer url_env for URLs that are secrets'),
  url_env: envKey.optional().describe('name of a variable (env file or process environment) holding the URL instead'),
};
const oneUrl = (c: { url?: string; url_env?: string }) => (c.url === undefined) !== (c.url_env === undefined);
const ONE_URL = { message: 'give exactly one of url and url_env' };

export const WebhookSchema = z
  .object({
    ...channelUrl,
    secret_env: envKey
      .optional()
      .describe(
        "name of the variable (env file, process environment, or the action's webhook-secret input) holding the HMAC-SHA256 key; never written here",
      ),
    events: notifyEvents.describe('events sent to this channel'),
    timeout: duration('5s').describe('time limit of one delivery attempt'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(3)
      .describe('further attempts after a failed one (network error, timeout, 408, 429, 5xx), with backoff'),
  })
  .strict()
  .refine(oneUrl, ONE_URL);

const byEvent = <T extends z.ZodType>(
  t: T,
  defaults: Record<'started' | 'completed' | 'failed' | 'rolled_back', z.input<T>>,
) =>
  z
    .object({ started: t.optional(), completed: t.optional(), failed: t.optional(), rolled_back: t.optional() })
    .strict()
    .prefault({})
    .transform(
      (v) =>
        ({ ...defaults, ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) }) as Record<
          keyof typeof defaults,
          z.output<T>
        >,
    );
const ntfyTag = z
  .string()
  .regex(/^[a-z0-9_+-]{1,40}$/, 'use lowercase letters, digits, "_", "+" and "-" (an ntfy tag or emoji name)');

export const NtfySchema = z
  .object({
    ...channelUrl,
    token_env: envKey.optional().describe('name of the variable holding an ntfy access token (sent as a bearer token)'),
    events: notifyEvents.describe('events sent to this topic'),
    priority: byEvent(z.number().int().min(1).max(5), { started: 2, completed: 3, failed: 5, rolled_back: 4 }).describe(
      'ntfy priority (1-5) per event',
    ),
    tags: byEvent(z.array(ntfyTag).max(5), {
      started: ['rocket'],
      completed: ['white_check_mark'],
      failed: ['x'],
      rolled_back: ['rewind', 'warning'],
    }).describe('ntfy tags per event'),
    timeout: duration('5s').describe('time limit of one delivery attempt'),
    retries: z.number().int().min(0).max(10).default(3),
  })
  .strict()
  .refine(oneUrl, ONE_URL);

export const NotificationsSchema = z
  .object({
    webhook: WebhookSchema.optional().describe('generic webhook: JSON event, optional HMAC signature'),
    ntfy: NtfySchema.optional().describe('ntfy topic'),
  })
  .strict();

const monitoringImage = (def: string) => imageRef.default(def);
export const MonitoringSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('deploy Prometheus, Alertmanager, a node exporter and Grafana beside the stack (docker/monitoring)'),
    metrics_path: urlPath.default('/metrics').describe('where the app serves its Prometheus metrics'),
    scrape_interval: duration('15s'),
    retention: z
      .string()
      .regex(/^\d+[dhw]$/, 'write e.g. 15d')
      .default('15d')
      .describe('how long Prometheus keeps samples'),
    prometheus: z
      .object({
        bind: bindAddress.default('127.0.0.1').describe("address Prometheus's UI and API are published on"),
        port: port
          .default(9090)
          .describe(
            "Prometheus's published port (one per host: give a second environment on the host its own under environments.<name>.monitoring)",
          ),
      })
      .strict()
      .prefault({}),
    grafana: z
      .object({
        enabled: z.boolean().default(true).describe('false: no Grafana (e.g. you point your own at this Prometheus)'),
        bind: bindAddress
          .default('127.0.0.1')
          .describe('address Grafana is published on (reach it through an SSH tunnel by default)'),
        port: port.default(3000).describe("Grafana's published port (one per host, like prometheus.port)"),
        admin_password_env: envKey
          .default('GRAFANA_PASSWORD')
          .describe("variable of the env file holding Grafana's admin password"),
      })
      .strict()
      .prefault({}),
    images: z
      .object({
        prometheus: monitoringImage('prom/prometheus:v2.53.2'),
        alertmanager: monitoringImage('prom/alertmanager:v0.27.0'),
        node_exporter: monitoringImage('prom/node-exporter:v1.8.2'),
        postgres_exporter: monitoringImage('prometheuscommunity/postgres-exporter:v0.15.0'),
        grafana: monitoringImage('grafana/grafana-oss:11.2.0'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const ConfigSchema = z
  .object({
    app: AppSchema,
    deployment: DeploymentPolicySchema.default(DeploymentPolicySchema.parse({})),
    proxy: ProxySchema.default(ProxySchema.parse({})),
    front_proxy: FrontProxySchema.prefault({}).describe(
      'the shared front proxy of the hosts whose environments set proxy.front',
    ),
    provider: ProviderSchema.default({ kind: 'compose' }),
    images: ImagesSchema.default(ImagesSchema.parse({})),
    database: DatabaseSchema.default(DatabaseSchema.parse({})),
    notifications: NotificationsSchema.prefault({}).describe('where deployment events are sent from the runner'),
    monitoring: MonitoringSchema.prefault({}),
    environments: z
      .record(name, EnvironmentSchema)
      .refine((e) => Object.keys(e).length > 0, 'define at least one environment'),
  })
  .strict();

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type EnvironmentConfig = z.output<typeof EnvironmentSchema>;
export type HealthConfig = z.output<typeof HealthSchema>;
export type ProxyConfig = z.output<typeof ProxySchema>;
export type ProviderConfig = z.output<typeof ProviderSchema>;
export type SwarmProviderConfig = z.output<typeof SwarmProviderSchema>;
export type ProxyOverride = z.output<typeof ProxyOverrideSchema>;
export type FrontProxyConfig = z.output<typeof FrontProxySchema>;
