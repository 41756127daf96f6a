// `togather-deploy init`: scaffolds an operator's repository for togather-deploy, from the answers given as flags
// or on a terminal. Every answer is checked and every file computed before the first write; reruns with the same
// answers change nothing.
import { resolve } from 'node:path';
import { ExitCode } from '../errors.js';
import {
  AnswerError,
  DEFAULT_HTTP_PORT,
  DEFAULT_HTTPS_PORT,
  gatherAnswers,
  type Answers,
  type EnvironmentAnswer,
} from './answers.js';
import { envFilePath, GITIGNORE_LINES, renderDeploymentYml, renderEnvFile } from './config-template.js';
import { applyFiles, type PlannedFile } from './files.js';
import { defaultScanHostKeys as scanWithSshKeyscan, knownHostsName, pinHostKeys, type PinTarget } from './host-keys.js';
import { nextSteps } from './next-steps.js';
import {
  BUILD_ARGS,
  BUNDLED_DOCKERFILE_PATH,
  bundledDockerfile,
  DOCKERFILE_CANDIDATES,
  dockerfileGaps,
  FALLBACK_IMAGE,
  githubOrigin,
  imageOf,
  readRepoFile,
  releaseTag,
} from './repository.js';
import {
  renderDeployWorkflow,
  renderRollbackWorkflow,
  renderSnapshotWorkflow,
  WORKFLOW_FILES,
} from './workflow-templates.js';

export interface InitOptions {
  dir: string; // the operator's repository root (default '.')
  environments?: string; // comma-separated, default 'staging,production'
  host: string[]; // repeatable --host: 'HOST' (all environments) or 'ENV=HOST'
  domain: string[]; // repeatable --domain: 'ENV=NAME' (optional; none → plain HTTP)
  user?: string; // --user, default 'deploy'
  sshPort?: string; // --ssh-port, default 22
  httpPort: string[]; // repeatable --http-port: 'N' (all environments) or 'ENV=N'; default 80
  httpsPort: string[]; // repeatable --https-port: 'N' (all environments) or 'ENV=N'; default 443
  image?: string; // --image repository without tag; default ghcr.io/<owner>/<repo> of the git origin
  fingerprint: string[]; // repeatable --fingerprint SHA256:...: host key fingerprints accepted without asking
  front?: boolean; // --front: every environment behind its host's shared front proxy (each needs a --domain)
  noFront?: boolean; // --no-front: never the front proxy; environments sharing a server need their own ports
  nonInteractive: boolean; // --non-interactive (also implied when io.ask is undefined)
  force: boolean; // --force: overwrite files that differ
}

export interface InitIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /**
   * ask a question on a terminal; undefined when nobody can answer (then defaults/flags are used, and anything
   * that must be confirmed without a flag is refused)
   */
  ask?: (question: string, defaultAnswer?: string) => Promise<string>;
  /** known_hosts lines of host:port, e.g. by running `ssh-keyscan -p PORT -T 5 HOST`; injectable for tests */
  scanHostKeys: (host: string, port: number) => Promise<string>;
}

export function defaultScanHostKeys(host: string, port: number): Promise<string> {
  return scanWithSshKeyscan(host, port);
}

const CONFIG_PATH = 'config/deployment.yml';
const KNOWN_HOSTS_PATH = 'config/known_hosts';
const KNOWN_HOSTS_HEADER =
  '# Host keys of the deploy hosts, checked by fingerprint (public; SSH refuses any other key)';

export async function initCommand(o: InitOptions, io: InitIo): Promise<number> {
  const dir = resolve(o.dir || '.');
  const ask = o.nonInteractive ? undefined : io.ask;
  const origin = await githubOrigin(dir);
  try {
    const answers = await gatherAnswers(o, imageOf(origin), ask);
    if (answers.image === FALLBACK_IMAGE && o.image === undefined) {
      io.err(`note: no GitHub origin found: app.image is ${FALLBACK_IMAGE}; give --image to name your own`);
    }
    const targets = pinTargets(answers);
    const pins = await pinHostKeys(
      targets,
      readRepoFile(dir, KNOWN_HOSTS_PATH) ?? '',
      answers.fingerprints,
      io.scanHostKeys,
      ask,
      io.out,
    );
    const placed = await placeBehindFront(answers, pins.fingerprints, o, ask);
    checkSharedServers(placed, pins.fingerprints, o.noFront === true);
    checkFrontDomains(placed, pins.fingerprints);
    for (const w of httpsWarnings(placed)) io.err(`warning: ${w}`);
    const dockerfile = dockerfileChoice(dir);
    const plan = planFiles(placed, dockerfile, [KNOWN_HOSTS_HEADER, ...pins.lines]);
    // nothing has been written so far: from here on, every answer has been accepted
    for (const s of pins.summary) io.out(`host key ${s}`);
    for (const r of applyFiles(dir, plan, o.force)) io.out(r.message);
    for (const line of dockerfile.notes) io.out(line);
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
    for (const line of steps) io.out(line);
    return ExitCode.ok;
  } catch (e) {
    if (!(e instanceof AnswerError)) throw e;
    io.err(`init: ${e.message}`);
    io.err(`  fix: ${e.remedy}`);
    io.err('Nothing was written.');
    return ExitCode.config;
  }
}

function pinTargets(a: Answers): PinTarget[] {
  const byName = new Map<string, PinTarget>();
  for (const e of a.environments) {
    const key = `${e.host}:${a.sshPort}`;
    const t = byName.get(key) ?? { host: e.host, port: a.sshPort, environments: [] };
    t.environments.push(e.name);
    byName.set(key, t);
  }
  return [...byName.values()];
}

/** how x and y are one server: by host name, or by a pinned host key they share; undefined when they are not */
function sameServer(x: EnvironmentAnswer, y: EnvironmentAnswer, a: Answers, keys: Map<string, string[]>) {
  const fingerprintsOf = (e: EnvironmentAnswer) => keys.get(knownHostsName(e.host, a.sshPort)) ?? [];
  if (x.host === y.host) return x.host;
  const sharedKey = fingerprintsOf(x).find((f) => fingerprintsOf(y).includes(f));
  return sharedKey ? `${x.host} and ${y.host} (one server: both present the host key ${sharedKey})` : undefined;
}

/** the environments grouped by server (sameServer, transitively), in the order of the answers */
function serverGroups(a: Answers, keys: Map<string, string[]>): EnvironmentAnswer[][] {
  const groups: EnvironmentAnswer[][] = [];
  for (const e of a.environments) {
    const joined = groups.filter((g) => g.some((o) => sameServer(o, e, a, keys) !== undefined));
    const merged = [...joined.flat(), e];
    for (const g of joined) groups.splice(groups.indexOf(g), 1);
    groups.push(merged);
  }
  const order = (e: EnvironmentAnswer) => a.environments.indexOf(e);
  return groups.map((g) => g.sort((x, y) => order(x) - order(y))).sort((x, y) => order(x[0]!) - order(y[0]!));
}

/**
 * Which environments go behind their host's shared front proxy (proxy.front): every one with --front; none with
 * --no-front; else those sharing a server when each of them has a domain and no port flag, the situation the
 * front proxy is for (asked on a terminal, default yes). The rest keep their own Caddy on their own ports.
 */
async function placeBehindFront(
  a: Answers,
  keys: Map<string, string[]>,
  o: InitOptions,
  ask: InitIo['ask'],
): Promise<Answers> {
  const front = new Set<string>();
  if (o.front) a.environments.forEach((e) => front.add(e.name));
  else if (!o.noFront) {
    for (const group of serverGroups(a, keys)) {
      const fits = (e: EnvironmentAnswer) =>
        e.domains.length > 0 && e.httpPort === undefined && e.httpsPort === undefined;
      if (group.length < 2 || !group.every(fits)) continue;
      if (ask) {
        const names = group.map((e) => e.name).join(' and ');
        const answer = (
          await ask(
            `${names} share the server ${group[0]!.host}: put them behind its shared front proxy (one Caddy ` +
              'holding ports 80/443 and every certificate, routing by domain)? (yes/no)',
            'yes',
          )
        )
          .trim()
          .toLowerCase();
        if (answer === 'no' || answer === 'n') continue;
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
function checkSharedServers(a: Answers, keys: Map<string, string[]>, noFront: boolean): void {
  const envs = a.environments;
  for (let i = 0; i < envs.length; i++) {
    for (let j = i + 1; j < envs.length; j++) {
      const [x, y] = [envs[i]!, envs[j]!];
      if (x.front && y.front) continue;
      const server = sameServer(x, y, a, keys);
      if (server === undefined) continue;
      const common = portsOf(x).filter((p) => portsOf(y).includes(p));
      if (common.length === 0) continue;
      const front = noFront
        ? 'drop --no-front and give each of them a domain (--domain ENV=NAME) to put them behind'
        : 'give each of them a domain (--domain ENV=NAME) and no port flags: init then puts them behind';
      throw new AnswerError(
        `${x.name} and ${y.name} would both publish port ${common.join(' and ')} on ${server}: the second stack could not start`,
        `give one of them other ports, e.g. --http-port ${x.name}=8080 --https-port ${x.name}=8443 (without a ` +
          `domain: only the one on 80/443 gets automatic HTTPS); or ${front} the host's shared front proxy, ` +
          'which holds 80/443 and the certificates of both; two machines sharing a host key (a cloned image) ' +
          'need host keys of their own',
      );
    }
  }
}

/** the front proxy routes by domain: two environments of one server behind it cannot share one (the loader's rule) */
function checkFrontDomains(a: Answers, keys: Map<string, string[]>): void {
  for (const group of serverGroups(a, keys)) {
    const owner = new Map<string, string>();
    for (const e of group.filter((g) => g.front)) {
      for (const d of e.domains) {
        const other = owner.get(d);
        if (other !== undefined) {
          throw new AnswerError(
            `${d} is the domain of both ${other} and ${e.name}, on one server behind its front proxy`,
            `give each environment its own, e.g. --domain ${other}=staging.example.org --domain ${e.name}=example.org`,
          );
        }
        owner.set(d, e.name);
      }
    }
  }
}

const portsOf = (e: EnvironmentAnswer): number[] => [
  e.httpPort ?? DEFAULT_HTTP_PORT,
  e.httpsPort ?? DEFAULT_HTTPS_PORT,
];

/** a domain on other ports than 80/443 cannot pass Let's Encrypt's challenges, which reach only those */
function httpsWarnings(a: Answers): string[] {
  return a.environments
    .filter((e) => e.domains.length > 0 && !e.front)
    .filter((e) => (e.httpPort ?? DEFAULT_HTTP_PORT) !== 80 || (e.httpsPort ?? DEFAULT_HTTPS_PORT) !== 443)
    .map(
      (e) =>
        `${e.name} has a domain but serves on ports ${portsOf(e).join('/')}: certificate authorities reach only ` +
        `80 and 443, so its automatic HTTPS will fail; drop its --domain (plain HTTP), or its port flags to put ` +
        `it behind the host's shared front proxy (--front), which holds 80/443 for every environment with a ` +
        'domain; see "One VPS, staging and production" in docs/configuration.md',
    );
}

interface DockerfileChoice {
  /** the path app.build.dockerfile names */
  path: string;
  /** true when init writes the tool's own Dockerfile there */
  bundled: boolean;
  notes: string[];
}

/**
 * The first Dockerfile of the usual places that meets the image contract; else togather-deploy's own, written to
 * docker/Dockerfile when that place is free (a server checkout's own Dockerfile often lacks the migrations);
 * else the one found, with a warning.
 */
function dockerfileChoice(dir: string): DockerfileChoice {
  const contract =
    `the build args ${BUILD_ARGS.join(', ')}, the migrations at /app/migrations ` + 'and /version reporting git_commit';
  const ours = bundledDockerfile();
  const found = DOCKERFILE_CANDIDATES.flatMap((path) => {
    const text = readRepoFile(dir, path);
    return text === undefined ? [] : [{ path, text, gaps: text === ours ? [] : dockerfileGaps(text) }];
  });
  const own = found.find((f) => f.text === ours);
  if (own) return { path: own.path, bundled: true, notes: [`${own.path} is togather-deploy's own Dockerfile.`] };
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
  const first = found[0]!;
  return {
    path: first.path,
    bundled: false,
    notes: [`Using your ${first.path} (app.build.dockerfile); it must take ${contract}.`, `warning: ${unfit[0]}`],
  };
}

function planFiles(a: Answers, dockerfile: DockerfileChoice, knownHosts: string[]): PlannedFile[] {
  const tag = releaseTag();
  const envs = a.environments.map((e) => e.name);
  const schemaUrl = `https://raw.githubusercontent.com/togather/togather-deploy/${tag}/config/deployment.schema.json`;
  const plan: PlannedFile[] = [
    { kind: 'whole', path: CONFIG_PATH, content: renderDeploymentYml(a, dockerfile.path, schemaUrl) },
    ...envs.map((e): PlannedFile => ({ kind: 'env', path: envFilePath(e), content: renderEnvFile(e) })),
    { kind: 'lines', path: KNOWN_HOSTS_PATH, lines: knownHosts, mode: 0o644 },
  ];
  if (dockerfile.bundled) plan.push({ kind: 'whole', path: dockerfile.path, content: bundledDockerfile() });
  plan.push(
    { kind: 'lines', path: '.gitignore', lines: GITIGNORE_LINES },
    { kind: 'whole', path: WORKFLOW_FILES.deploy, content: renderDeployWorkflow(envs, tag) },
    { kind: 'whole', path: WORKFLOW_FILES.rollback, content: renderRollbackWorkflow(envs, tag) },
    { kind: 'whole', path: WORKFLOW_FILES.snapshot, content: renderSnapshotWorkflow(envs, tag) },
  );
  return plan;
}
