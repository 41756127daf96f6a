export const id = 318;
export const ids = [318];
export const modules = {

/***/ 5318:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  defaultScanHostKeys: () => (/* binding */ command_defaultScanHostKeys),
  initCommand: () => (/* binding */ initCommand)
});

// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./src/errors.ts
var errors = __webpack_require__(3916);
// EXTERNAL MODULE: ./src/config/schema.ts + 1 modules
var schema = __webpack_require__(7178);
;// CONCATENATED MODULE: ./src/init/answers.ts
// The operator's answers to `togather-deploy init`: from flags, else asked on a terminal, else defaults. Every
// answer is checked here, before any file is computed or written, against the rules the config schema applies
// later, so that init never writes a config its own loader would refuse.

const DEFAULT_HTTP_PORT = 80;
const DEFAULT_HTTPS_PORT = 443;
/** a refused answer: the message names the flag or question and says what to give instead */
class AnswerError extends Error {
    remedy;
    constructor(message, remedy) {
        super(message);
        this.remedy = remedy;
        this.name = 'AnswerError';
    }
}
const DEFAULT_ENVIRONMENTS = 'staging,production';
const DEFAULT_USER = 'deploy';
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** a public DNS name with at least two labels: a certificate authority issues nothing for a bare label */
const DOMAIN_RE = new RegExp(`^(?=.{1,253}$)${DNS_LABEL}(?:\\.${DNS_LABEL})+$`);
const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;
/**
 * Collect and check every answer. `ask` is undefined when nobody can answer: flags and defaults are used then.
 * Throws AnswerError on the first answer that cannot be used.
 */
async function gatherAnswers(flags, defaultImage, ask) {
    const envText = flags.environments ?? (ask ? await ask('Environments (comma-separated)', DEFAULT_ENVIRONMENTS) : '');
    const names = parseEnvironments(envText || DEFAULT_ENVIRONMENTS, flags.environments !== undefined);
    const hosts = parseAssignments('--host', flags.host, names, checkHost);
    const domains = parseDomains(flags.domain, names);
    const httpPorts = parseAssignments('--http-port', flags.httpPort, names, parsePort);
    const httpsPorts = parseAssignments('--https-port', flags.httpsPort, names, parsePort);
    if (flags.front && flags.noFront) {
        throw new AnswerError('--front and --no-front given together', 'keep the one you mean');
    }
    const environments = [];
    let previousHost;
    for (const name of names) {
        let host = hosts.get(name) ?? hosts.get('');
        if (host === undefined && ask) {
            const answer = (await ask(`SSH host of ${name} (host name or IP address)`, previousHost)).trim();
            host = checkHost(answer || previousHost || '', `the host of ${name}`);
        }
        if (host === undefined) {
            throw new AnswerError(`no host for ${name}`, `pass --host HOST (every environment) or --host ${name}=HOST; e.g. --host ${name}=203.0.113.10`);
        }
        previousHost = host;
        let envDomains = domains.get(name) ?? [];
        // flags given are not asked: any --domain means the operator has said which environments have one
        if (flags.domain.length === 0 && ask) {
            const answer = (await ask(`Public domain of ${name} (empty: plain HTTP on the host's address)`, '')).trim();
            envDomains = answer ? answer.split(/[\s,]+/).map((d) => checkDomain(d, `the domain of ${name}`)) : [];
        }
        const httpPort = httpPorts.get(name) ?? httpPorts.get('');
        const httpsPort = httpsPorts.get(name) ?? httpsPorts.get('');
        if ((httpPort ?? DEFAULT_HTTP_PORT) === (httpsPort ?? DEFAULT_HTTPS_PORT)) {
            throw new AnswerError(`${name}: its HTTP and HTTPS ports are both ${httpPort ?? DEFAULT_HTTP_PORT}`, `give the two different numbers, e.g. --http-port ${name}=8080 --https-port ${name}=8443`);
        }
        if (flags.front && envDomains.length === 0) {
            throw new AnswerError(`--front: ${name} has no domain, and the front proxy routes requests by domain`, `give it one, e.g. --domain ${name}=${name}.example.org (its A record pointing at ${host}), or drop --front`);
        }
        if (flags.front && (httpPort !== undefined || httpsPort !== undefined)) {
            throw new AnswerError(`--front with ${httpPort !== undefined ? '--http-port' : '--https-port'} for ${name}: behind the front ` +
                'proxy an environment publishes no port of its own', 'drop the port flags (the front proxy holds 80 and 443 for every environment), or drop --front');
        }
        environments.push({
            name,
            host,
            domains: envDomains,
            ...(httpPort !== undefined ? { httpPort: Number(httpPort) } : {}),
            ...(httpsPort !== undefined ? { httpsPort: Number(httpsPort) } : {}),
        });
    }
    const userText = flags.user ?? (ask ? await ask('SSH user on the host(s)', DEFAULT_USER) : DEFAULT_USER);
    const user = userText.trim() || DEFAULT_USER;
    if (!schema/* USER_RE */.aN.test(user)) {
        throw new AnswerError(`--user ${show(user)} is not a POSIX user name`, 'use lowercase letters, digits, "_" and "-"');
    }
    const imageText = flags.image ?? (ask ? await ask('Image repository (without tag)', defaultImage) : defaultImage);
    const image = imageText.trim() || defaultImage;
    if (!schema/* IMAGE_REPO_RE */.zx.test(image)) {
        throw new AnswerError(`--image ${show(image)} is not an image repository`, 'write it lowercase and without a tag, e.g. ghcr.io/your-org/server (every deploy is tagged with its commit)');
    }
    const sshText = flags.sshPort ?? '22';
    const sshPort = Number(parsePort(sshText, `--ssh-port ${show(sshText)}`));
    const fingerprints = flags.fingerprint.map((f) => f.trim());
    for (const f of fingerprints) {
        if (!FINGERPRINT_RE.test(f)) {
            throw new AnswerError(`--fingerprint ${show(f)} is not a SHA256 host key fingerprint`, 'give it as ssh-keygen prints it, e.g. SHA256:followed-by-43-base64-characters');
        }
    }
    return { environments, user, sshPort, image, fingerprints };
}
function parseEnvironments(text, fromFlag) {
    const what = fromFlag ? '--environments' : 'the environments';
    const names = text
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '');
    if (names.length === 0)
        throw new AnswerError(`${what}: none given`, `name at least one, e.g. ${DEFAULT_ENVIRONMENTS}`);
    const seen = new Set();
    for (const n of names) {
        if (!schema/* NAME_RE */.eF.test(n)) {
            throw new AnswerError(`${what}: ${show(n)} is not a valid environment name`, 'use lowercase letters, digits and "-", starting with a letter (at most 40), e.g. staging');
        }
        if (seen.has(n))
            throw new AnswerError(`${what}: ${n} is named twice`, 'name each environment once');
        seen.add(n);
    }
    return names;
}
/** `VALUE` (key '': every environment) or `ENV=VALUE`, repeatable; a later flag for the same key wins */
function parseAssignments(flag, values, names, check) {
    const out = new Map();
    for (const raw of values) {
        const eq = raw.indexOf('=');
        const env = eq < 0 ? '' : raw.slice(0, eq).trim();
        const value = (eq < 0 ? raw : raw.slice(eq + 1)).trim();
        if (env !== '' && !names.includes(env)) {
            throw new AnswerError(`${flag} ${show(raw)}: there is no environment ${show(env)}`, `use one of: ${names.join(', ')} (or add it with --environments)`);
        }
        out.set(env, check(value, `${flag} ${show(raw)}`));
    }
    return out;
}
function parseDomains(values, names) {
    const out = new Map();
    for (const raw of values) {
        const eq = raw.indexOf('=');
        if (eq < 0) {
            throw new AnswerError(`--domain ${show(raw)} names no environment`, `write --domain ENV=NAME, e.g. --domain ${names[0]}=${names[0]}.example.org`);
        }
        const env = raw.slice(0, eq).trim();
        if (!names.includes(env)) {
            throw new AnswerError(`--domain ${show(raw)}: there is no environment ${show(env)}`, `use one of: ${names.join(', ')}`);
        }
        const list = out.get(env) ?? [];
        const domain = checkDomain(raw.slice(eq + 1).trim(), `--domain ${show(raw)}`);
        if (!list.includes(domain))
            list.push(domain);
        out.set(env, list);
    }
    return out;
}
/** a host name or IP address that no shell, ssh option or YAML could misread */
function checkHost(host, what) {
    if (host === '')
        throw new AnswerError(`${what}: empty`, 'give a host name or IP address, e.g. 203.0.113.10');
    if (host.startsWith('-') || /[[\]\s]/.test(host) || !schema/* HOSTNAME_RE */.yk.test(host)) {
        throw new AnswerError(`${what}: ${show(host)} is not a host name or IP address`, 'give only the host (no user@, no :port, no brackets): e.g. deploy.example.org or 203.0.113.10; the port is --ssh-port');
    }
    return host;
}
function checkDomain(domain, what) {
    const d = domain.toLowerCase();
    if (!DOMAIN_RE.test(d)) {
        throw new AnswerError(`${what}: ${show(domain)} is not a DNS name`, 'give the public name whose A record points at the host, e.g. staging.example.org (no scheme, no port)');
    }
    return d;
}
/** a port number as text (parseAssignments keeps values as strings); `what` names the flag in a refusal */
function parsePort(text, what) {
    const n = /^\d{1,5}$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (!(n >= 1 && n <= 65535))
        throw new AnswerError(`${what} is not a port`, 'give a number from 1 to 65535');
    return String(n);
}
/** an answer quoted for a message, with anything unprintable made visible */
function show(s) {
    return JSON.stringify(s);
}

// EXTERNAL MODULE: ./node_modules/yaml/dist/index.js
var dist = __webpack_require__(8815);
;// CONCATENATED MODULE: ./src/init/config-template.ts
// config/deployment.yml, the env files and the .gitignore lines that init writes. Written as text rather than
// serialized so that the operator gets the comments; every value placed in them was checked in answers.ts, and
// scalars still go through the YAML library so that an IP address or a numeric host name stays a string.

/** YAML for one scalar, quoted only when a plain scalar would read back as something else */
function y(value) {
    return (0,dist/* stringify */.As)(value).trimEnd();
}
function envFilePath(env) {
    return `config/environments/.env.${env}`;
}
/** the public URL: https on the first domain, else plain HTTP on the host (and its port when not 80) */
function urlOf(env, httpPort) {
    if (env.domains[0])
        return `https://${env.domains[0]}`;
    const host = env.host.includes(':') ? `[${env.host}]` : env.host;
    return `http://${host}${httpPort !== undefined && httpPort !== 80 ? `:${httpPort}` : ''}`;
}
function renderDeploymentYml(a, dockerfile, schemaUrl) {
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
function renderEnvironment(e, a) {
    const lines = [
        `  ${e.name}:`,
        `    host: ${y(e.host)}`,
        `    port: ${a.sshPort}`,
        `    user: ${y(a.user)}`,
        `    env_file: ${y(`environments/.env.${e.name}`)}`,
        `    url: ${y(urlOf(e, e.httpPort))}`,
    ];
    const proxy = [];
    if (e.front) {
        proxy.push("      front: true # served through the host's front proxy (front_proxy above), which holds 80/443", `      domains: [${e.domains.map(y).join(', ')}] # its own: the front routes them here and gets their certificates`);
    }
    else if (e.domains.length > 0)
        proxy.push(`      domains: [${e.domains.map(y).join(', ')}] # automatic HTTPS`);
    else
        proxy.push('      domains: [] # plain HTTP; add the public name here for automatic HTTPS');
    if (e.httpPort !== undefined)
        proxy.push(`      http_port: ${e.httpPort}`);
    if (e.httpsPort !== undefined)
        proxy.push(`      https_port: ${e.httpsPort}`);
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
const PLACEHOLDER = 'CHANGE_ME';
function renderEnvFile(env) {
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
const GITIGNORE_LINES = [
    '# togather-deploy: env files hold secrets (their *.example templates may be committed)',
    'config/environments/.env.*',
    '!config/environments/.env.*.example',
];

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: ./src/config/envfile.ts
var envfile = __webpack_require__(8119);
;// CONCATENATED MODULE: ./src/init/files.ts
// Plan and apply init's files. Every file's content is computed before anything is written, so that a refused
// answer leaves the repository as it was; applying then decides per file: absent → write, identical → leave,
// different → leave unless --force. Env files hold secrets and are never overwritten once they hold one, and the
// line files (.gitignore, known_hosts) are only ever appended to.



function readOrUndefined(abs) {
    return (0,external_node_fs_.existsSync)(abs) ? (0,external_node_fs_.readFileSync)(abs, 'utf8') : undefined;
}
function write(abs, content, mode) {
    (0,external_node_fs_.mkdirSync)((0,external_node_path_.dirname)(abs), { recursive: true });
    (0,external_node_fs_.writeFileSync)(abs, content, mode !== undefined ? { mode } : {});
    // the mode option applies only when the file is created
    if (mode !== undefined)
        (0,external_node_fs_.chmodSync)(abs, mode);
}
function applyFiles(dir, plan, force) {
    return plan.map((f) => applyOne(dir, f, force));
}
function applyOne(dir, f, force) {
    const abs = (0,external_node_path_.join)(dir, f.path);
    const current = readOrUndefined(abs);
    const done = (outcome, message) => ({ path: f.path, outcome, message });
    if (f.kind === 'lines') {
        const content = withLines(current, f.lines);
        if (current === undefined) {
            write(abs, content, f.mode);
            return done('wrote', `wrote ${f.path}`);
        }
        if (content === current)
            return done('unchanged', `unchanged ${f.path}`);
        write(abs, content, f.mode);
        const added = f.lines.filter((l) => !presentLines(current).has(l.trim())).length;
        return done('updated', `updated ${f.path} (added ${added} line${added === 1 ? '' : 's'})`);
    }
    const mode = f.kind === 'env' ? 0o600 : f.mode;
    if (current === undefined) {
        write(abs, f.content, mode);
        return done('wrote', `wrote ${f.path}`);
    }
    if (current === f.content)
        return done('unchanged', `unchanged ${f.path}`);
    if (f.kind === 'env' && holdsOperatorValues(current, f.content)) {
        return done('skipped', `kept ${f.path} (it holds your values; init never overwrites them, not even with --force)`);
    }
    if (!force)
        return done('skipped', `skipped ${f.path} (exists; --force to overwrite)`);
    write(abs, f.content, mode);
    return done('overwrote', `overwrote ${f.path}`);
}
function presentLines(text) {
    return new Set(text.split('\n').map((l) => l.trim()));
}
/** `current` with every missing line appended (after a newline if it lacks its last one) */
function withLines(current, lines) {
    const base = current ?? '';
    const present = presentLines(base);
    const missing = lines.filter((l) => !present.has(l.trim()));
    // a comment line alone is not worth appending: only when a rule it introduces is missing too
    if (missing.every((l) => l.startsWith('#')))
        return base;
    const sep = base === '' || base.endsWith('\n') ? '' : '\n';
    return `${base}${sep}${missing.join('\n')}\n`;
}
/**
 * Does an existing env file hold a value the operator put there: one that is neither a CHANGE_ME placeholder, nor
 * empty, nor what init itself writes for that key?
 */
function holdsOperatorValues(existing, template) {
    const ours = (0,envfile/* parseEnvFile */.FO)(template, 'template', { required: [] }).values;
    const theirs = (0,envfile/* parseEnvFile */.FO)(existing, 'existing', { required: [] });
    // a file that does not parse may still hold secrets: never overwrite it
    if (theirs.problems.some((p) => p.code === 'syntax'))
        return true;
    return theirs.entries.some((e) => e.value !== '' && !envfile/* PLACEHOLDER_RE */.i$.test(e.value) && ours[e.key] !== e.value);
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: ./src/host/process.ts
var process = __webpack_require__(7439);
// EXTERNAL MODULE: ./src/host/ssh.ts + 1 modules
var ssh = __webpack_require__(8616);
;// CONCATENATED MODULE: ./src/init/host-keys.ts
// Host keys for config/known_hosts. A key read from the network is only as good as the check made of it, so a
// scanned key is written only when the operator confirms its fingerprint or named it with --fingerprint; the
// fingerprints are computed here from the key blobs, never taken from the scanning tool's output.





function fingerprintOf(base64Blob) {
    const digest = (0,external_node_crypto_.createHash)('sha256').update(Buffer.from(base64Blob, 'base64')).digest('base64');
    return `SHA256:${digest.replace(/=+$/, '')}`;
}
function typeLabel(keyType) {
    if (keyType === 'ssh-ed25519')
        return 'ED25519';
    if (keyType.startsWith('ecdsa-'))
        return 'ECDSA';
    if (keyType === 'ssh-rsa')
        return 'RSA';
    return keyType.toUpperCase();
}
/**
 * Keys in known_hosts text. With `name`, only the lines for that host name, rewritten to carry exactly that name
 * (scanners print what they were asked; ssh looks the host up by the config's host and port).
 */
function parseKnownHosts(text, name) {
    const keys = [];
    for (const raw of text.split('\n')) {
        const fields = raw.trim().split(/\s+/);
        if (fields.length < 3 || fields[0].startsWith('#') || fields[0].startsWith('@'))
            continue;
        const [hosts, keyType, blob] = fields;
        if (!/^[A-Za-z0-9+/]+=*$/.test(blob))
            continue;
        if (name !== undefined && !hosts.split(',').includes(name))
            continue;
        keys.push({
            line: `${name ?? hosts} ${keyType} ${blob}`,
            type: typeLabel(keyType),
            fingerprint: fingerprintOf(blob),
        });
    }
    return keys;
}
/** ssh-keyscan of one host and port: its known_hosts lines (its comments go to stderr) */
async function defaultScanHostKeys(host, port) {
    const r = await (0,process/* runProcess */.R)('ssh-keyscan', ['-p', String(port), '-T', '5', host], { timeoutMs: 30_000 });
    if (r.code !== 0 && r.stdout.trim() === '') {
        const said = r.stderr.trim().split('\n').slice(-1)[0] ?? '';
        throw new Error(`ssh-keyscan -p ${port} ${host} got no key (exit ${r.code})${said ? `: ${said}` : ''}`);
    }
    return r.stdout;
}
/**
 * The keys to pin for every distinct host and port. A host that config/known_hosts already pins is not scanned
 * again (a rerun asks nothing); delete its lines to pin it anew. Throws AnswerError when a key is not accepted.
 */
async function pinHostKeys(targets, existing, fingerprints, scan, ask, out) {
    const result = { lines: [], summary: [], fingerprints: new Map() };
    const seen = new Set();
    for (const t of targets) {
        const name = (0,ssh/* knownHostsName */.on)(t.host, t.port);
        const pinned = parseKnownHosts(existing, name);
        if (pinned.length > 0) {
            pinned.forEach((k) => seen.add(k.fingerprint));
            result.lines.push(...pinned.map((k) => k.line));
            result.summary.push(`${name}: already pinned in config/known_hosts (${describe(pinned)})`);
            result.fingerprints.set(name, pinned.map((k) => k.fingerprint));
            continue;
        }
        let scanned;
        try {
            scanned = parseKnownHosts(await scan(t.host, t.port)).map((k) => ({
                ...k,
                line: `${name} ${k.line.split(' ').slice(1).join(' ')}`,
            }));
        }
        catch (e) {
            throw new AnswerError(`could not read the host key of ${name}: ${e instanceof Error ? e.message : String(e)}`, 'check that the host is up and its SSH port is reachable from here (--ssh-port), then run init again');
        }
        if (scanned.length === 0) {
            throw new AnswerError(`${name} sent no host key`, 'check the host and --ssh-port; is an SSH server listening there?');
        }
        scanned.forEach((k) => seen.add(k.fingerprint));
        const accepted = await accept(t, name, scanned, fingerprints, ask, out);
        result.lines.push(...accepted.map((k) => k.line));
        result.summary.push(`${name}: ${describe(accepted)}`);
        result.fingerprints.set(name, accepted.map((k) => k.fingerprint));
    }
    const unmatched = fingerprints.filter((f) => !seen.has(f));
    if (unmatched.length > 0) {
        throw new AnswerError(`--fingerprint ${unmatched.join(', ')} matches none of the hosts' keys`, "compare it with the host's own key (provider console, or `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` " +
            'on the host); a different key means something else answered: stop and find out what');
    }
    return result;
}
async function accept(t, name, scanned, fingerprints, ask, out) {
    const named = scanned.filter((k) => fingerprints.includes(k.fingerprint));
    if (named.length > 0)
        return named;
    const forWhom = `${name} (${t.environments.join(', ')})`;
    const listing = scanned.map((k) => `  ${k.type} ${k.fingerprint}`);
    const verify = 'compare with the fingerprint the host itself reports, through a channel you already trust: the provider ' +
        "console's boot log, or `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on the host";
    if (!ask) {
        throw new AnswerError(`the host key of ${forWhom} is not confirmed; it answered with:\n${listing.join('\n')}`, `${verify}, then run init again with --fingerprint SHA256:… (the one you checked)`);
    }
    // the key people can check on the host is the ed25519 one: offer that one alone when the host has it
    const offered = scanned.filter((k) => k.type === 'ED25519');
    const keys = offered.length > 0 ? offered : scanned;
    out(`Host key of ${forWhom}:`);
    for (const k of keys)
        out(`  ${k.type} ${k.fingerprint}`);
    out(`(${verify})`);
    const answer = (await ask(`Is this the key of ${t.host}? (yes/no)`, 'no')).trim().toLowerCase();
    if (answer === 'yes' || answer === 'y')
        return keys;
    throw new AnswerError(`the host key of ${forWhom} was not confirmed`, 'find out why the fingerprints differ before connecting; nothing was written');
}
function describe(keys) {
    return keys.map((k) => `${k.type} ${k.fingerprint}`).join(', ');
}

;// CONCATENATED MODULE: ./src/init/workflow-templates.ts
// The caller workflows init writes into the operator's .github/workflows. Each calls one of togather-deploy's
// reusable workflows pinned to a release tag, grants exactly the permissions the called job asks for (a called
// workflow can never get more than its caller grants) and maps each secret by name (never `secrets: inherit`).
const WORKFLOW_FILES = {
    deploy: '.github/workflows/togather-deploy.yml',
    rollback: '.github/workflows/togather-rollback.yml',
    snapshot: '.github/workflows/togather-snapshot.yml',
};
const OWN = 'togather/togather-deploy/.github/workflows';
const SECRETS = `    secrets:
      SSH_PRIVATE_KEY: \${{ secrets.SSH_PRIVATE_KEY }}
      SSH_KNOWN_HOSTS: \${{ secrets.SSH_KNOWN_HOSTS }}
      ENV_FILE: \${{ secrets.ENV_FILE }}
      # a key with a passphrase also needs: SSH_PASSPHRASE: \${{ secrets.SSH_PASSPHRASE }}
`;
/**
 * The GitHub environment a nightly snapshot of `envs[index]` runs in. The last of several environments is the one
 * deployed behind an approval (togather-deploy.yml), and reviewers apply to any job naming the environment,
 * deployment or not: its snapshots use a twin without reviewers that holds the same secrets.
 */
function snapshotGitHubEnvironment(envs, index) {
    const env = envs[index];
    return envs.length > 1 && index === envs.length - 1 ? `${env}-snapshots` : env;
}
function renderDeployWorkflow(envs, tag) {
    const jobs = envs.map((env, i) => {
        const previous = i > 0 ? envs[i - 1] : undefined;
        const needs = previous ? `    needs: ${previous}\n` : '';
        const version = previous
            ? `      version: \${{ needs.${previous}.outputs.version }} # exactly the commit ${previous} got\n`
            : '      version: ${{ inputs.version }} # empty: the pushed commit\n';
        const last = previous !== undefined && i === envs.length - 1;
        const why = last
            ? `  # After ${previous}; give the GitHub environment ${env} required reviewers: the job waits for an approval.\n`
            : '';
        return `${why}  ${env}:
${needs}    uses: ${OWN}/deploy.yml@${tag}
    permissions:
      contents: read # check out the config, resolve the version
      checks: read # CI gate
      statuses: read # CI gate
      deployments: write # deployment statuses on the environment
    with:
      environment: ${env}
${version}      # a tag or an older commit needs the full history; the pushed commit, only itself
      fetch-depth: \${{ fromJSON(inputs.version && '0' || '1') }}
      force: \${{ inputs.force == true }}
${SECRETS}`;
    });
    return `# Deploys every push to main: ${envs.join(', then ')}${envs.length > 1 ? ', each with the commit the one before got' : ''}.
# Written by \`togather-deploy init\`. The called workflow is togather-deploy's, pinned to its ${tag} release.
name: togather-deploy

on:
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      version:
        description: "Version to deploy: a tag or commit SHA; empty: the head of the branch run from"
        type: string
        default: ""
      force:
        description: "Redeploy even when the version already serves (e.g. after updating the ENV_FILE secret)"
        type: boolean
        default: false

# Nothing by default; each job grants exactly what the called workflow's job uses.
permissions: {}

# Do not add a concurrency group named togather-deploy-…: the called jobs queue per environment on their own.
jobs:
  # The CI gate: before deploying, the called workflow waits (up to 20 minutes) for the other checks and statuses
  # of the commit, and refuses one that failed. When your tests run in THIS workflow, add their job (say test)
  # and, in the first job below, \`needs: test\` and under with: \`required-checks: test\`, so that the gate does not
  # wait for its own workflow.
${jobs.join('\n')}`;
}
function renderRollbackWorkflow(envs, tag) {
    const options = envs.map((e) => `          - ${e}`).join('\n');
    // versions and status read the environment's secrets but change nothing: on the environment behind an approval
    // they run in its reviewer-free twin (the one the nightly snapshot uses), so listing needs no approval.
    const twins = envs.map((e, i) => [e, snapshotGitHubEnvironment(envs, i)]).filter(([e, g]) => e !== g);
    const githubEnvironment = twins
        .map(([e, g]) => '      # versions/status on ' +
        `${e} run in ${g} (no reviewers, same secrets); a rollback waits for ${e}'s reviewers\n` +
        `      github-environment: \${{ inputs.command != 'rollback' && inputs.environment == '${e}' && '${g}' || '' }}\n`)
        .join('');
    return `# Roll an environment back, or list what it could roll back to: Actions → togather-rollback → Run workflow.
# Written by \`togather-deploy init\`. The called workflow is togather-deploy's, pinned to its ${tag} release.
name: togather-rollback

on:
  workflow_dispatch:
    inputs:
      environment:
        description: "Environment"
        type: choice
        required: true
        # A choice defaults to its first option: the least harmful one comes first, so a hurried click does not
        # roll back production.
        options:
${options}
      command:
        description: "versions: list what can be rolled back to; status: what serves now; rollback: do it"
        type: choice
        required: true
        # versions first, so that a hurried click only lists (never turning the run red); pick rollback to act
        options:
          - versions
          - status
          - rollback
      version:
        description: "Version (SHA or tag) to roll back to; empty: the previous good version"
        type: string
        default: ""
      confirm:
        description: "Type the environment name to confirm a rollback across a database migration"
        type: string
        default: ""
      dry-run:
        description: "Only print the plan"
        type: boolean
        default: false

# Nothing by default; the job grants exactly what the called workflow's job uses.
permissions: {}

jobs:
  rollback:
    uses: ${OWN}/rollback.yml@${tag}
    permissions:
      contents: read # check out the config, resolve the version
      deployments: write # deployment statuses on the environment
    with:
      environment: \${{ inputs.environment }}
      command: \${{ inputs.command }}
      version: \${{ inputs.version }}
      confirm: \${{ inputs.confirm }}
      dry-run: \${{ inputs.dry-run }}
${githubEnvironment}${SECRETS}`;
}
function renderSnapshotWorkflow(envs, tag) {
    const include = envs
        .map((e, i) => `          - environment: ${e}\n            github-environment: ${snapshotGitHubEnvironment(envs, i)}`)
        .join('\n');
    return `# A verified database snapshot of every environment, nightly and on demand (Actions → togather-snapshot).
# Written by \`togather-deploy init\`. The called workflow is togather-deploy's, pinned to its ${tag} release.
# GitHub disables the schedule of a public repository after 60 days without activity: watch the snapshots' age
# (database.snapshots.max_age, and \`togather-deploy snapshot check\` run from somewhere else too: docs/snapshots.md).
name: togather-snapshot

on:
  schedule:
    - cron: "23 2 * * *" # nightly, off the hour to dodge the top-of-hour queue
  workflow_dispatch:

# Nothing by default; the job grants exactly what the called workflow's job uses.
permissions: {}

jobs:
  snapshot:
    strategy:
      fail-fast: false # one unreachable host must not skip the others' snapshots
      matrix:
        # environment: the entry in config/deployment.yml (stack, path, env file's ENVIRONMENT).
        # github-environment: where the job runs and reads its secrets. Reviewers apply even to a job that deploys
        # nothing, so an environment behind an approval uses a twin without reviewers (<name>-snapshots) that holds
        # the same three secrets and is restricted to main: the nightly run does not wait for an approval.
        include:
${include}
    uses: ${OWN}/snapshot.yml@${tag}
    permissions:
      contents: read # check out the config
    with:
      environment: \${{ matrix.environment }}
      github-environment: \${{ matrix.github-environment }}
      # with database.snapshots.offsite in the config (encrypted copies off the host, docs/snapshots.md):
      # offsite: true, and the RCLONE_CONFIG secret below
${SECRETS}      # off-site copies also need: RCLONE_CONFIG: \${{ secrets.RCLONE_CONFIG }}
`;
}

;// CONCATENATED MODULE: ./src/init/next-steps.ts
// What the operator does after init, in order: fill in the secrets, check and prepare the host from the
// workstation, commit (without pushing) and deploy once from there, then give GitHub its environments and
// secrets, and only then push.


const KEY = '~/.ssh/togather_deploy';
/**
 * The deploy key of each environment: one key per host (docs/security.md). Environments sharing a host share its
 * deploy user, so they share its key; only when they are on different hosts does each host get its own.
 */
function deployKeys(environments, hosts = {}) {
    const distinct = new Set(environments.map((e) => hosts[e] ?? ''));
    const perHost = distinct.size > 1 && !distinct.has('');
    return new Map(environments.map((e) => [e, perHost ? `${KEY}_${hosts[e]}` : KEY]));
}
function nextSteps(n) {
    const first = n.environments[0];
    const repo = n.repo ? `${n.repo.owner}/${n.repo.name}` : 'OWNER/REPO';
    const keys = deployKeys(n.environments, n.hosts);
    const key = (e) => keys.get(e);
    const oneKey = new Set(keys.values()).size === 1;
    const out = ['Next steps:'];
    let number = 0;
    const step = (text, ...commands) => {
        out.push(`${++number}. ${text}`);
        for (const c of commands)
            out.push(`     ${c}`);
    };
    step(`Replace every CHANGE_ME in ${n.environments.map(envFilePath).join(', ')} ` +
        '(POSTGRES_PASSWORD and the password inside DATABASE_URL must be equal; `openssl rand -hex 24`).');
    step(oneKey
        ? `Check everything locally, nothing is connected to (${KEY} is the deploy user's private key; ` +
            'keep an offline copy of it):'
        : 'Check everything locally, nothing is connected to (one deploy key per host, ' +
            `${KEY}_<host>; keep an offline copy of each):`, ...n.environments.map((e) => `togather-deploy validate ${e} -i ${key(e)}`));
    const behind = Object.keys(n.front ?? {});
    const front = behind.flatMap((e) => n.front[e]);
    const frontHosts = new Set(behind.map((e) => n.hosts?.[e]));
    const records = front.length > 1 ? `A records of ${front.slice(0, -1).join(', ')} and ${front.at(-1)}` : `A record of ${front[0]}`;
    const server = frontHosts.size === 1 && !frontHosts.has(undefined) ? [...frontHosts][0] : "each environment's host";
    step((front.length > 0
        ? `Point the ${records} at ${server}: ` +
            "the host's front proxy serves them all and obtains their certificates, so ports 80 and 443 (and SSH) " +
            'are the only ones to open. '
        : '') + 'Prepare each host (Docker, directories, the proxy):', ...n.environments.map((e) => `togather-deploy setup ${e} -i ${key(e)}`));
    step(`Commit ${n.wroteDockerfile ? `${n.wroteDockerfile} (only commits containing it can be built), ` : ''}` +
        'config/deployment.yml, config/known_hosts, .gitignore and .github/workflows (a deploy builds the committed ' +
        'tree), but do not push yet: a push runs the deploy workflow, and a GitHub environment that does not exist ' +
        `then is created without any protection. Deploy ${first} once from here (a workstation has no CI gate: ` +
        '--skip-ci-check, which is recorded):', `togather-deploy deploy ${first} -i ${key(first)} --skip-ci-check`);
    const ghEnvs = new Set();
    n.environments.forEach((e, i) => {
        ghEnvs.add(e);
        ghEnvs.add(snapshotGitHubEnvironment(n.environments, i));
    });
    const last = n.environments[n.environments.length - 1];
    const policy = '{"deployment_branch_policy":{"protected_branches":false,"custom_branch_policies":true}}';
    step('Create the GitHub environment' +
        (ghEnvs.size > 1 ? 's' : '') +
        ', each deployable from the main branch only' +
        (n.environments.length > 1
            ? `; then give ${last} required reviewers in Settings → Environments (the API wants reviewer ids), and ` +
                `none to ${last}-snapshots, where the nightly snapshot and the rollback workflow's versions/status run:`
            : ':'), ...[...ghEnvs].flatMap((g) => [
        `echo '${policy}' | gh api -X PUT repos/${repo}/environments/${g} --input -`,
        `gh api -X POST repos/${repo}/environments/${g}/deployment-branch-policies -f name=main -f type=branch`,
    ]));
    const secrets = [];
    n.environments.forEach((e, i) => {
        for (const g of new Set([e, snapshotGitHubEnvironment(n.environments, i)])) {
            secrets.push(`gh secret set SSH_PRIVATE_KEY --env ${g} < ${key(e)}`, `gh secret set SSH_KNOWN_HOSTS --env ${g} < config/known_hosts`, `gh secret set ENV_FILE --env ${g} < ${envFilePath(e)}`);
        }
    });
    step('Store the three secrets on each of them' +
        (ghEnvs.size > n.environments.length
            ? ` (${last}-snapshots too; whenever you change ${last}'s env file or key later, update both):`
            : ':'), ...secrets);
    step(`Now push to main: ${WORKFLOW_FILES.deploy} deploys ${n.environments.join(', then ')}` +
        (n.environments.length > 1 ? ` (${last} after an approval)` : '') +
        `; ${WORKFLOW_FILES.rollback} and ${WORKFLOW_FILES.snapshot} run from the Actions tab once they are on main.`);
    return out;
}

// EXTERNAL MODULE: ./src/engine/assets.ts
var assets = __webpack_require__(777);
;// CONCATENATED MODULE: ./src/init/repository.ts
// What init reads from the operator's repository and from the tool itself: the GitHub origin (for the image name
// and the gh commands), the app's Dockerfile, and the release the generated workflows pin.




/** used when the repository has no GitHub origin; lowercase, as an image repository must be */
const FALLBACK_IMAGE = 'ghcr.io/owner/server';
/** owner/name of `git remote get-url origin` when it is a GitHub repository */
async function githubOrigin(dir) {
    const r = await (0,process/* runProcess */.R)('git', ['-C', dir, 'remote', 'get-url', 'origin'], { timeoutMs: 10_000 });
    return r.code === 0 ? parseGitHubUrl(r.stdout.trim()) : undefined;
}
function parseGitHubUrl(url) {
    const m = /^(?:https:\/\/(?:[^@/]+@)?github\.com\/|(?:ssh:\/\/)?git@github\.com[:/])([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+?)(?:\.git)?\/?$/.exec(url);
    return m ? { owner: m[1], name: m[2] } : undefined;
}
/** ghcr.io/<owner>/<repo>, the name GitHub's registry would give the repository's image */
function imageOf(repo) {
    if (!repo)
        return FALLBACK_IMAGE;
    const part = (s) => s.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
    return `ghcr.io/${part(repo.owner)}/${part(repo.name)}`;
}
/** where Togather server checkouts keep a Dockerfile, most conventional first */
const DOCKERFILE_CANDIDATES = ['Dockerfile', 'docker/Dockerfile', 'deploy/docker/Dockerfile'];
/** where init puts the tool's own Dockerfile when the repository has none */
const BUNDLED_DOCKERFILE_PATH = 'docker/Dockerfile';
const BUILD_ARGS = ['GIT_COMMIT', 'GIT_SHORT_COMMIT', 'VERSION', 'BUILD_TIMESTAMP'];
const MIGRATIONS_PATH = '/app/migrations';
/**
 * What an existing Dockerfile visibly lacks of the image contract the deployer relies on: the four build args
 * (the release is verified by the git_commit /version reports) and the migrations at /app/migrations. A text
 * check only: it cannot prove the contract, but it catches the Dockerfile that was never written for it.
 */
function dockerfileGaps(text) {
    const gaps = BUILD_ARGS.filter((a) => !new RegExp(`^\\s*ARG\\s+${a}\\b`, 'm').test(text)).map((a) => `no ARG ${a}`);
    if (!text.includes(MIGRATIONS_PATH))
        gaps.push(`nothing copied to ${MIGRATIONS_PATH}`);
    return gaps;
}
function bundledDockerfile() {
    return (0,assets/* readAsset */.fs)('docker', 'Dockerfile');
}
function readRepoFile(dir, path) {
    try {
        return (0,external_node_fs_.readFileSync)((0,external_node_path_.join)(dir, path), 'utf8');
    }
    catch {
        return undefined;
    }
}
/**
 * The tag the generated workflows pin, v<major> of this installation. Read from the installed package.json
 * rather than imported, so that the bundled CLI (dist/cli) finds it beside its assets as well.
 */
function releaseTag() {
    const version = JSON.parse((0,assets/* readAsset */.fs)('package.json')).version;
    const major = typeof version === 'string' ? /^(\d+)\./.exec(version)?.[1] : undefined;
    if (major === undefined)
        throw new Error(`package.json of togather-deploy has no usable version (${String(version)})`);
    return `v${major}`;
}

;// CONCATENATED MODULE: ./src/init/command.ts
// `togather-deploy init`: scaffolds an operator's repository for togather-deploy, from the answers given as flags
// or on a terminal. Every answer is checked and every file computed before the first write; reruns with the same
// answers change nothing.









function command_defaultScanHostKeys(host, port) {
    return defaultScanHostKeys(host, port);
}
const CONFIG_PATH = 'config/deployment.yml';
const KNOWN_HOSTS_PATH = 'config/known_hosts';
const KNOWN_HOSTS_HEADER = '# Host keys of the deploy hosts, checked by fingerprint (public; SSH refuses any other key)';
async function initCommand(o, io) {
    const dir = (0,external_node_path_.resolve)(o.dir || '.');
    const ask = o.nonInteractive ? undefined : io.ask;
    const origin = await githubOrigin(dir);
    try {
        const answers = await gatherAnswers(o, imageOf(origin), ask);
        if (answers.image === FALLBACK_IMAGE && o.image === undefined) {
            io.err(`note: no GitHub origin found: app.image is ${FALLBACK_IMAGE}; give --image to name your own`);
        }
        const targets = pinTargets(answers);
        const pins = await pinHostKeys(targets, readRepoFile(dir, KNOWN_HOSTS_PATH) ?? '', answers.fingerprints, io.scanHostKeys, ask, io.out);
        const placed = await placeBehindFront(answers, pins.fingerprints, o, ask);
        checkSharedServers(placed, pins.fingerprints, o.noFront === true);
        checkFrontDomains(placed, pins.fingerprints);
        for (const w of httpsWarnings(placed))
            io.err(`warning: ${w}`);
        const dockerfile = dockerfileChoice(dir);
        const plan = planFiles(placed, dockerfile, [KNOWN_HOSTS_HEADER, ...pins.lines]);
        // nothing has been written so far: from here on, every answer has been accepted
        for (const s of pins.summary)
            io.out(`host key ${s}`);
        for (const r of applyFiles(dir, plan, o.force))
            io.out(r.message);
        for (const line of dockerfile.notes)
            io.out(line);
        io.out('');
        const names = answers.environments.map((e) => e.name);
        const wrote = dockerfile.bundled ? dockerfile.path : undefined;
        const hosts = Object.fromEntries(answers.environments.map((e) => [e.name, e.host]));
        const front = Object.fromEntries(placed.environments.filter((e) => e.front).map((e) => [e.name, e.domains]));
        const steps = nextSteps({
            environments: names,
            repo: origin,
            hosts,
            ...(wrote ? { wroteDockerfile: wrote } : {}),
            ...(Object.keys(front).length > 0 ? { front } : {}),
        });
        for (const line of steps)
            io.out(line);
        return errors/* ExitCode */.yU.ok;
    }
    catch (e) {
        if (!(e instanceof AnswerError))
            throw e;
        io.err(`init: ${e.message}`);
        io.err(`  fix: ${e.remedy}`);
        io.err('Nothing was written.');
        return errors/* ExitCode */.yU.config;
    }
}
function pinTargets(a) {
    const byName = new Map();
    for (const e of a.environments) {
        const key = `${e.host}:${a.sshPort}`;
        const t = byName.get(key) ?? { host: e.host, port: a.sshPort, environments: [] };
        t.environments.push(e.name);
        byName.set(key, t);
    }
    return [...byName.values()];
}
/** how x and y are one server: by host name, or by a pinned host key they share; undefined when they are not */
function sameServer(x, y, a, keys) {
    const fingerprintsOf = (e) => keys.get((0,ssh/* knownHostsName */.on)(e.host, a.sshPort)) ?? [];
    if (x.host === y.host)
        return x.host;
    const sharedKey = fingerprintsOf(x).find((f) => fingerprintsOf(y).includes(f));
    return sharedKey ? `${x.host} and ${y.host} (one server: both present the host key ${sharedKey})` : undefined;
}
/** the environments grouped by server (sameServer, transitively), in the order of the answers */
function serverGroups(a, keys) {
    const groups = [];
    for (const e of a.environments) {
        const joined = groups.filter((g) => g.some((o) => sameServer(o, e, a, keys) !== undefined));
        const merged = [...joined.flat(), e];
        for (const g of joined)
            groups.splice(groups.indexOf(g), 1);
        groups.push(merged);
    }
    const order = (e) => a.environments.indexOf(e);
    return groups.map((g) => g.sort((x, y) => order(x) - order(y))).sort((x, y) => order(x[0]) - order(y[0]));
}
/**
 * Which environments go behind their host's shared front proxy (proxy.front): every one with --front; none with
 * --no-front; else those sharing a server when each of them has a domain and no port flag, the situation the
 * front proxy is for (asked on a terminal, default yes). The rest keep their own Caddy on their own ports.
 */
async function placeBehindFront(a, keys, o, ask) {
    const front = new Set();
    if (o.front)
        a.environments.forEach((e) => front.add(e.name));
    else if (!o.noFront) {
        for (const group of serverGroups(a, keys)) {
            const fits = (e) => e.domains.length > 0 && e.httpPort === undefined && e.httpsPort === undefined;
            if (group.length < 2 || !group.every(fits))
                continue;
            if (ask) {
                const names = group.map((e) => e.name).join(' and ');
                const answer = (await ask(`${names} share the server ${group[0].host}: put them behind its shared front proxy (one Caddy ` +
                    'holding ports 80/443 and every certificate, routing by domain)? (yes/no)', 'yes'))
                    .trim()
                    .toLowerCase();
                if (answer === 'no' || answer === 'n')
                    continue;
                if (answer !== '' && answer !== 'yes' && answer !== 'y') {
                    throw new AnswerError(`the front proxy question: ${JSON.stringify(answer)}`, 'answer yes or no');
                }
            }
            group.forEach((e) => front.add(e.name));
        }
    }
    return { ...a, environments: a.environments.map((e) => ({ ...e, front: front.has(e.name) })) };
}
/**
 * Two environments on one server — the same host name, or two names whose pinned host keys are the same — each
 * run a proxy: with a port in common, the second stack cannot start. Refused before anything is written.
 * Environments behind the front proxy publish no port of their own.
 */
function checkSharedServers(a, keys, noFront) {
    const envs = a.environments;
    for (let i = 0; i < envs.length; i++) {
        for (let j = i + 1; j < envs.length; j++) {
            const [x, y] = [envs[i], envs[j]];
            if (x.front && y.front)
                continue;
            const server = sameServer(x, y, a, keys);
            if (server === undefined)
                continue;
            const common = portsOf(x).filter((p) => portsOf(y).includes(p));
            if (common.length === 0)
                continue;
            const front = noFront
                ? 'drop --no-front and give each of them a domain (--domain ENV=NAME) to put them behind'
                : 'give each of them a domain (--domain ENV=NAME) and no port flags: init then puts them behind';
            throw new AnswerError(`${x.name} and ${y.name} would both publish port ${common.join(' and ')} on ${server}: the second stack could not start`, `give one of them other ports, e.g. --http-port ${x.name}=8080 --https-port ${x.name}=8443 (without a ` +
                `domain: only the one on 80/443 gets automatic HTTPS); or ${front} the host's shared front proxy, ` +
                'which holds 80/443 and the certificates of both; two machines sharing a host key (a cloned image) ' +
                'need host keys of their own');
        }
    }
}
/** the front proxy routes by domain: two environments of one server behind it cannot share one (the loader's rule) */
function checkFrontDomains(a, keys) {
    for (const group of serverGroups(a, keys)) {
        const owner = new Map();
        for (const e of group.filter((g) => g.front)) {
            for (const d of e.domains) {
                const other = owner.get(d);
                if (other !== undefined) {
                    throw new AnswerError(`${d} is the domain of both ${other} and ${e.name}, on one server behind its front proxy`, `give each environment its own, e.g. --domain ${other}=staging.example.org --domain ${e.name}=example.org`);
                }
                owner.set(d, e.name);
            }
        }
    }
}
const portsOf = (e) => [
    e.httpPort ?? DEFAULT_HTTP_PORT,
    e.httpsPort ?? DEFAULT_HTTPS_PORT,
];
/** a domain on other ports than 80/443 cannot pass Let's Encrypt's challenges, which reach only those */
function httpsWarnings(a) {
    return a.environments
        .filter((e) => e.domains.length > 0 && !e.front)
        .filter((e) => (e.httpPort ?? DEFAULT_HTTP_PORT) !== 80 || (e.httpsPort ?? DEFAULT_HTTPS_PORT) !== 443)
        .map((e) => `${e.name} has a domain but serves on ports ${portsOf(e).join('/')}: certificate authorities reach only ` +
        `80 and 443, so its automatic HTTPS will fail; drop its --domain (plain HTTP), or its port flags to put ` +
        `it behind the host's shared front proxy (--front), which holds 80/443 for every environment with a ` +
        'domain; see "One VPS, staging and production" in docs/configuration.md');
}
/**
 * The first Dockerfile of the usual places that meets the image contract; else togather-deploy's own, written to
 * docker/Dockerfile when that place is free (a server checkout's own Dockerfile often lacks the migrations);
 * else the one found, with a warning.
 */
function dockerfileChoice(dir) {
    const contract = `the build args ${BUILD_ARGS.join(', ')}, the migrations at /app/migrations ` + 'and /version reporting git_commit';
    const ours = bundledDockerfile();
    const found = DOCKERFILE_CANDIDATES.flatMap((path) => {
        const text = readRepoFile(dir, path);
        return text === undefined ? [] : [{ path, text, gaps: text === ours ? [] : dockerfileGaps(text) }];
    });
    const own = found.find((f) => f.text === ours);
    if (own)
        return { path: own.path, bundled: true, notes: [`${own.path} is togather-deploy's own Dockerfile.`] };
    const fitting = found.find((f) => f.gaps.length === 0);
    if (fitting) {
        return {
            path: fitting.path,
            bundled: false,
            notes: [`Using your ${fitting.path} (app.build.dockerfile); it must keep taking ${contract}.`],
        };
    }
    const unfit = found.map((f) => `${f.path} seems not to meet the image contract: ${f.gaps.join('; ')}.`);
    if (!found.some((f) => f.path === BUNDLED_DOCKERFILE_PATH)) {
        return {
            path: BUNDLED_DOCKERFILE_PATH,
            bundled: true,
            notes: [
                ...unfit,
                `${BUNDLED_DOCKERFILE_PATH} is togather-deploy's own Dockerfile (app.build.dockerfile), which takes ${contract}.`,
                'Commit it: only commits that contain it can be built.',
            ],
        };
    }
    const first = found[0];
    return {
        path: first.path,
        bundled: false,
        notes: [`Using your ${first.path} (app.build.dockerfile); it must take ${contract}.`, `warning: ${unfit[0]}`],
    };
}
function planFiles(a, dockerfile, knownHosts) {
    const tag = releaseTag();
    const envs = a.environments.map((e) => e.name);
    const schemaUrl = `https://raw.githubusercontent.com/togather/togather-deploy/${tag}/config/deployment.schema.json`;
    const plan = [
        { kind: 'whole', path: CONFIG_PATH, content: renderDeploymentYml(a, dockerfile.path, schemaUrl) },
        ...envs.map((e) => ({ kind: 'env', path: envFilePath(e), content: renderEnvFile(e) })),
        { kind: 'lines', path: KNOWN_HOSTS_PATH, lines: knownHosts, mode: 0o644 },
    ];
    if (dockerfile.bundled)
        plan.push({ kind: 'whole', path: dockerfile.path, content: bundledDockerfile() });
    plan.push({ kind: 'lines', path: '.gitignore', lines: GITIGNORE_LINES }, { kind: 'whole', path: WORKFLOW_FILES.deploy, content: renderDeployWorkflow(envs, tag) }, { kind: 'whole', path: WORKFLOW_FILES.rollback, content: renderRollbackWorkflow(envs, tag) }, { kind: 'whole', path: WORKFLOW_FILES.snapshot, content: renderSnapshotWorkflow(envs, tag) });
    return plan;
}


/***/ })

};
