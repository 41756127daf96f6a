// config/deployment.yml, the env files and the .gitignore lines that init writes. Written as text rather than
// serialized so that the operator gets the comments; every value placed in them was checked in answers.ts, and
// scalars still go through the YAML library so that an IP address or a numeric host name stays a string.
import { stringify } from 'yaml';
import type { Answers, EnvironmentAnswer } from './answers.js';

/** YAML for one scalar, quoted only when a plain scalar would read back as something else */
function y(value: string | number): string {
  return stringify(value).trimEnd();
}

export function envFilePath(env: string): string {
  return `config/environments/.env.${env}`;
}

/** the public URL: https on the first domain, else plain HTTP on the host (and its port when not 80) */
export function urlOf(env: EnvironmentAnswer, httpPort: number | undefined): string {
  if (env.domains[0]) return `https://${env.domains[0]}`;
  const host = env.host.includes(':') ? `[${env.host}]` : env.host;
  return `http://${host}${httpPort !== undefined && httpPort !== 80 ? `:${httpPort}` : ''}`;
}

export function renderDeploymentYml(a: Answers, dockerfile: string, schemaUrl: string): string {
  const environments = a.environments.map((e) => renderEnvironment(e, a)).join('\n');
  const front = a.environments.some((e) => e.front) ? FRONT_PROXY_BLOCK : '';
  return `# yaml-language-server: $schema=${schemaUrl}
#
# How togather-deploy ships the Togather server; written by \`togather-deploy init\`. Reference: docs/configuration.md
# of togather-deploy. Secrets never sit here: each environment's live in its env file (config/environments/, kept
# out of git) and, on GitHub, in the environment's ENV_FILE secret.
# Durations take a unit (500ms, 2s, 10m). Relative paths are relative to this file's directory.

app:
  name: togather # the stack on the host is togather-<environment>
  port: 8080 # the server's port inside its container (SERVER_PORT)
  # image repository without tag: every deploy is tagged with the full commit SHA it was built from
  image: ${y(a.image)}
  # Built from the deployed commit on the runner (or your workstation) and shipped to the host over SSH; the
  # context is the repository root. The Dockerfile must be in the commit: only commits containing it can be built.
  build:
    context: .
    dockerfile: ${y(dockerfile)}
  pull: false # true: the host pulls from the registry instead (it then needs registry credentials)

  # how a new colour proves it is ready before it receives traffic
  health:
    path: /health
    version_path: /version # must report the deployed git_commit, or the switch is undone
    start_timeout: 90s # boot + first start
    required_checks: [database, migrations]

  # non-secret settings of the app; the env file overrides them
  env:
    LOG_LEVEL: info
    LOG_FORMAT: json
    SERVER_HOST: 0.0.0.0
    SERVER_PORT: "8080"
    TZ: UTC
  # keys the app environment must define (a CHANGE_ME placeholder does not count)
  required_env: [ENVIRONMENT, DATABASE_URL, JWT_SECRET, POSTGRES_PASSWORD]
  # values that are not secret; every other value is masked in logs
  public_env: [ENVIRONMENT, LOG_LEVEL, LOG_FORMAT, TZ, PORT, SERVER_PORT, SERVER_HOST, HOST]

deployment:
  drain_timeout: 30s # the old colour keeps in-flight requests this long after the switch
  # After the switch, keep probing health through the proxy and switch back on failures. Off for the first
  # deploys; once the app runs well, 10m is a good value for production.
  watch: 0s

database:
  managed: true # PostgreSQL runs in the stack; its password is POSTGRES_PASSWORD in the env file
  # a verified pg_dump snapshot is taken before every deploy that has migrations to run
  snapshots:
    retention_days: 7

# Deployment events, sent from the runner or your workstation. Off until you set a channel up; every URL or key
# that holds a token goes in the env file, named here by *_env. Example:
# notifications:
#   webhook:
#     url_env: DEPLOY_WEBHOOK_URL
#     secret_env: DEPLOY_WEBHOOK_SECRET
#   ntfy:
#     url_env: NTFY_URL # a topic of your own: anyone who knows a public topic's name can read it

monitoring:
  enabled: false # Prometheus + Grafana beside each environment: see docs/monitoring.md

${front}# One entry per environment: the name is what you deploy (\`togather-deploy deploy staging\`). host, port and user
# are the SSH target; config/known_hosts pins its host key. Each lives in togather/<environment> in the deploy
# user's home. Two environments on one host either go behind its shared front proxy (proxy.front: true, each with
# domains of its own), or need their own proxy ports (proxy.http_port, https_port), and then only the one on
# 80/443 can get automatic HTTPS.
environments:
${environments}`;
}

function renderEnvironment(e: EnvironmentAnswer, a: Answers): string {
  const lines = [
    `  ${e.name}:`,
    `    host: ${y(e.host)}`,
    `    port: ${a.sshPort}`,
    `    user: ${y(a.user)}`,
    `    env_file: ${y(`environments/.env.${e.name}`)}`,
    `    url: ${y(urlOf(e, e.httpPort))}`,
  ];
  const proxy: string[] = [];
  if (e.front) {
    proxy.push(
      "      front: true # served through the host's front proxy (front_proxy above), which holds 80/443",
      `      domains: [${e.domains.map(y).join(', ')}] # its own: the front routes them here and gets their certificates`,
    );
  } else if (e.domains.length > 0) proxy.push(`      domains: [${e.domains.map(y).join(', ')}] # automatic HTTPS`);
  else proxy.push('      domains: [] # plain HTTP; add the public name here for automatic HTTPS');
  if (e.httpPort !== undefined) proxy.push(`      http_port: ${e.httpPort}`);
  if (e.httpsPort !== undefined) proxy.push(`      https_port: ${e.httpsPort}`);
  return [...lines, '    proxy:', ...proxy].join('\n') + '\n';
}

/**
 * front_proxy, written when an environment is behind it. Its ports are written out (they are the defaults) so that
 * the block is a mapping even while the e-mail stays a comment: init asks for none.
 */
const FRONT_PROXY_BLOCK = `# The host's shared front proxy, for the environments with proxy.front: one Caddy per host holds ports 80 and 443
# and every certificate (obtained at a domain's first HTTPS request), and passes each request to the Caddy of the
# environment that owns its domain. A deploy registers its environment's domains with a file, without reloading
# it; the first deploy creates it. See "One VPS, staging and production" in docs/configuration.md.
front_proxy:
  http_port: 80 # with SSH, the host's only public ports: each domain's A record points at the host
  https_port: 443
  # email: you@example.org # ACME account, for certificate expiry notices: uncomment with your address

`;

export const PLACEHOLDER = 'CHANGE_ME';

export function renderEnvFile(env: string): string {
  return `# Togather server: settings and secrets of ${env}, written by \`togather-deploy init\`.
#
# Keep this file private (mode 600) and out of git. Replace every ${PLACEHOLDER}: a deploy refuses a placeholder.
# Use fresh values per environment; never share a secret between staging and production.
# On GitHub it is the ENV_FILE secret of the ${env} environment (re-upload it after every change):
#   gh secret set ENV_FILE --env ${env} < ${envFilePath(env)}
# and, when a ${env}-snapshots environment exists (the reviewer-free twin of the last of several), of it too:
#   gh secret set ENV_FILE --env ${env}-snapshots < ${envFilePath(env)}
# Syntax: KEY=value, one per line; quote with '...' for a literal value. " #" starts a comment.

# must equal the environment being deployed, or the deploy stops before touching the host
ENVIRONMENT=${env}

# Password of the bundled PostgreSQL, set when its data volume is first created.  Generate: openssl rand -hex 24
POSTGRES_PASSWORD=${PLACEHOLDER}
# The app's connection string. Its password must be EQUAL to POSTGRES_PASSWORD ("db" is the database service).
DATABASE_URL=postgres://togather:${PLACEHOLDER}@db:5432/togather?sslmode=disable

# Signs session tokens; changing it logs everyone out.  Generate: openssl rand -hex 32
JWT_SECRET=${PLACEHOLDER}
# Password of the initial admin account.  Generate: openssl rand -base64 24
ADMIN_PASSWORD=${PLACEHOLDER}
# Key of the CSRF protection, 32 random bytes.  Generate: openssl rand -hex 32
CSRF_KEY=${PLACEHOLDER}

# Optional features: an empty value switches the feature off.
# email, through Resend (an API key starting with re_) or SMTP (the account's app password)
RESEND_API_KEY=
SMTP_PASSWORD=
# error reporting: the DSN of the Sentry project
SENTRY_DSN=
`;
}

/** the lines .gitignore must hold: the env files hold secrets, their *.example templates may be committed */
export const GITIGNORE_LINES = [
  '# togather-deploy: env files hold secrets (their *.example templates may be committed)',
  'config/environments/.env.*',
  '!config/environments/.env.*.example',
];
