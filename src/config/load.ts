import { statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Redactor } from '../log/redact.js';
import { envFileSourceOf, mergeAppEnv, registerSecrets } from './app-env.js';
import { checkEnvironment, parseEnvFile, readEnvFile } from './envfile.js';
import type { EnvFile } from './envfile.js';
import { dottedPath, show, zodProblems } from './explain.js';
import { ConfigError, ENV_INPUT_SOURCE, sortProblems } from './problems.js';
import { checkDomain } from '../engine/release/caddyfile.js';
import type { ConfigProblem } from './problems.js';
import {
  ConfigSchema,
  DEFAULT_PUBLIC_ENV,
  DEFAULT_REQUIRED_ENV,
  type Config,
  type EnvironmentConfig,
  type ProviderConfig,
  type ProxyConfig,
} from './schema.js';
import { isMapping, readYaml, stringList, stringRecord, valueAt, type YamlSource } from './yaml-source.js';

export interface LoadOptions {
  configPath: string;
  environment: string;
  /** env file content (the action's env-file input); wins over every other env file */
  envFileContent?: string;
  /** env file path (the CLI's --env-file), relative to the working directory */
  envFilePath?: string;
  /** consulted only for keys the env file or app.env declare; adapters pass process.env, default none */
  processEnv?: Record<string, string | undefined>;
  /** KEY=VALUE settings from the command line (--set) or the action; they win over everything */
  overrides?: Record<string, string>;
  redactor: Redactor;
  /** base of relative paths given on the command line; default process.cwd() */
  cwd?: string;
}

export interface ResolvedConfig {
  config: Config;
  environment: string;
  env: EnvironmentConfig;
  /** `${app.name}-${environment}`: compose project and container name prefix on the host */
  stack: string;
  /** env.path ?? `togather/${environment}` (relative paths start in the deploy user's home) */
  hostPath: string;
  /** top-level proxy settings with the environment's overrides applied */
  proxy: ProxyConfig;
  /** where the colours run: the environment's provider block, else the top-level one */
  provider: ProviderConfig;
  /** the app's final environment, written to app.env on the host */
  appEnv: Record<string, string>;
  configPath: string;
  /** absolute directory of the config file */
  configDir: string;
  /** where the env file came from: its path as the operator named it, or `env-file input` */
  envFileSource: string;
}

/**
 * Load config/deployment.yml and the environment's env file, validate both and build the app environment.
 * Throws one ConfigError listing every problem found. Reads the two files and nothing else; no host is touched.
 *
 * The app environment, strongest first:
 *   1. overrides (CLI --set, action input)
 *   2. process environment, only for keys the env file or app.env already declare, so that unrelated runner
 *      or shell variables never reach the app (and an empty variable does not blank a setting)
 *   3. the env file
 *   4. app.env in deployment.yml
 */
export function loadConfig(opts: LoadOptions): ResolvedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const configFile = opts.configPath;
  const configAbs = resolve(cwd, opts.configPath);
  const configDir = dirname(configAbs);
  const problems: ConfigProblem[] = [];

  const yaml = readYaml(configAbs, configFile, problems);
  let config: Config | undefined;
  let env: EnvironmentConfig | undefined;
  if (yaml) {
    const parsed = ConfigSchema.safeParse(yaml.data);
    if (parsed.success) config = parsed.data;
    else problems.push(...zodProblems(parsed.error.issues, yaml, configFile));
    env = selectEnvironment(opts.environment, config, yaml, configFile, problems);
    if (config) problems.push(...checkLocalPaths(config, opts.environment, env, configDir, yaml, configFile));
    if (config && env) problems.push(...checkFrontDomains(config, opts.environment, env, yaml, configFile));
    if (config && env) problems.push(...checkProvider(config, opts.environment, env, yaml, configFile));
  }

  // the env file is read even when the config is broken, so that one run reports both files' problems
  const source = envFileSourceOf(opts, cwd, configDir, yaml, config, env);
  let envFile: EnvFile | undefined;
  if (source.kind === 'content') {
    envFile = parseEnvFile(source.content, ENV_INPUT_SOURCE, { required: [] });
  } else if (source.kind === 'path') {
    envFile = readEnvFile(source.abs, { required: [] }, source.display);
  } else if (
    env !== undefined ||
    (yaml && !config && isMapping(valueAt(yaml.data, ['environments', opts.environment])))
  ) {
    const at = yaml?.locate(['environments', opts.environment], true);
    problems.push({
      file: configFile,
      path: `environments.${opts.environment}`,
      ...(at !== undefined ? { line: at } : {}),
      message: 'has no env file',
      remedy: `add env_file: environments/.env.${opts.environment} (relative to ${configFile}), or pass one with --env-file or the env-file input`,
      code: 'no-env-file',
    });
  }

  const app = config?.app;
  const rawApp = yaml ? valueAt(yaml.data, ['app']) : undefined;
  const merged = mergeAppEnv(app?.env ?? stringRecord(valueAt(rawApp, ['env'])) ?? {}, envFile, opts, yaml, configFile);
  // register secrets before anything can fail, so even an error path cannot print them; a broken config still
  // lends its key lists when they are well-formed, else the defaults apply
  registerSecrets(
    opts.redactor,
    merged.values,
    app?.public_env ?? stringList(valueAt(rawApp, ['public_env'])) ?? DEFAULT_PUBLIC_ENV,
  );

  if (envFile) {
    // a placeholder in the file is fine when a stronger source supplies the value
    problems.push(
      ...envFile.problems.filter((p) => !(p.code === 'placeholder' && merged.origin[p.path] !== envFile.file)),
    );
  }
  problems.push(...merged.problems);
  // an env file that could not be read already says so; listing each key it lacks would only bury that
  const unreadable =
    envFile !== undefined && envFile.entries.length === 0 && envFile.problems.some((p) => p.code === 'file');
  if (envFile && !unreadable) {
    problems.push(
      ...checkEnvironment(merged.values, merged.where, envFile.file, {
        // against an undefined environment the comparison would only add noise
        ...(problems.some((p) => p.code === 'unknown-environment') ? {} : { environment: opts.environment }),
        required: app?.required_env ?? stringList(valueAt(rawApp, ['required_env'])) ?? DEFAULT_REQUIRED_ENV,
      }),
    );
  }

  if (problems.length > 0 || !config || !env)
    throw new ConfigError(
      sortProblems(
        problems.length ? problems : [{ file: configFile, path: '', message: 'could not be loaded', code: 'invalid' }],
      ),
    );

  const environment = opts.environment;
  // the environment's monitoring overrides applied once here, so every reader of config.monitoring sees them
  if (env.monitoring) config = { ...config, monitoring: withMonitoringOverrides(config.monitoring, env.monitoring) };
  const proxy: ProxyConfig = { ...config.proxy };
  for (const [k, v] of Object.entries(env.proxy ?? {})) {
    if (v !== undefined) (proxy as Record<string, unknown>)[k] = v;
  }
  return {
    config,
    environment,
    env,
    stack: `${config.app.name}-${environment}`,
    hostPath: env.path ?? `togather/${environment}`,
    proxy,
    provider: env.provider ?? config.provider,
    appEnv: merged.values,
    configPath: opts.configPath,
    configDir,
    envFileSource: envFile?.file ?? ENV_INPUT_SOURCE,
  };
}

/**
 * What a Swarm environment cannot combine with (docs/swarm.md): the front proxy and a bind address are single-host
 * features, monitoring is not built for Swarm yet, and the tasks' own limit must leave room for the app's start.
 */
function checkProvider(
  config: Config,
  name: string,
  env: EnvironmentConfig,
  yaml: YamlSource,
  file: string,
): ConfigProblem[] {
  const provider = env.provider ?? config.provider;
  if (provider.kind !== 'swarm') return [];
  const proxy = { ...config.proxy, ...definedOnly(env.proxy ?? {}) };
  const monitoring = env.monitoring?.enabled ?? config.monitoring.enabled;
  const providerPath = env.provider ? ['environments', name, 'provider'] : ['provider'];
  const problem = (path: string[], message: string, remedy: string): ConfigProblem => {
    const line = yaml.locate(path) ?? yaml.locate(providerPath);
    return { file, path: dottedPath(path), ...(line !== undefined ? { line } : {}), message, remedy, code: 'invalid' };
  };
  const where = (key: string, own: boolean) => (own ? ['environments', name, ...key.split('.')] : key.split('.'));
  const out: ConfigProblem[] = [];
  if (proxy.front)
    out.push(
      problem(
        where('proxy.front', env.proxy?.front !== undefined),
        'is true, but the shared front proxy is a single-host feature',
        "remove it: with provider.kind swarm the edge node's Caddy holds the HTTP and HTTPS ports itself",
      ),
    );
  if (proxy.bind !== '0.0.0.0')
    out.push(
      problem(
        where('proxy.bind', env.proxy?.bind !== undefined),
        `is ${proxy.bind}, but a swarm publishes the edge's ports on every address of the edge node`,
        'remove proxy.bind (firewall the edge node instead)',
      ),
    );
  if (monitoring)
    out.push(
      problem(
        where('monitoring.enabled', env.monitoring?.enabled !== undefined),
        'is true, but monitoring is not built for provider.kind swarm yet',
        'set monitoring.enabled: false for this environment, or run the monitoring stack yourself (docs/swarm.md)',
      ),
    );
  if (config.deployment.watch.duration > 0)
    out.push(
      problem(
        ['deployment', 'watch'],
        'is on, but the post-deploy watch is not built for provider.kind swarm yet',
        'set deployment.watch: 0s for this environment; watch the edge with your monitoring instead',
      ),
    );
  if (provider.scale_timeout < config.app.health.start_timeout)
    out.push(
      problem(
        [...providerPath, 'scale_timeout'],
        `(${provider.scale_timeout} ms) is shorter than app.health.start_timeout (${config.app.health.start_timeout} ms)`,
        'give the tasks at least as long as one app takes to start',
      ),
    );
  return out;
}

/**
 * Behind the shared front proxy the domains are how requests find the environment (and what certificates are
 * issued for): there must be some, each a plain host name, and no other environment of this file may claim one.
 */
function checkFrontDomains(
  config: Config,
  name: string,
  env: EnvironmentConfig,
  yaml: YamlSource,
  file: string,
): ConfigProblem[] {
  const proxyOf = (e: EnvironmentConfig) => ({ ...config.proxy, ...definedOnly(e.proxy ?? {}) });
  const mine = proxyOf(env);
  if (!mine.front) return [];
  const own = env.proxy?.domains !== undefined;
  const path = own ? ['environments', name, 'proxy', 'domains'] : ['proxy', 'domains'];
  const problem = (message: string, remedy: string): ConfigProblem => {
    const line = yaml.locate(path) ?? yaml.locate(['environments', name]);
    return { file, path: dottedPath(path), ...(line !== undefined ? { line } : {}), message, remedy, code: 'invalid' };
  };
  if (mine.domains.length === 0)
    return [
      problem(
        'is empty, but proxy.front routes requests by domain',
        `list the environment's public host names under environments.${name}.proxy.domains`,
      ),
    ];
  const out: ConfigProblem[] = [];
  for (const d of mine.domains) {
    try {
      checkDomain(d);
    } catch {
      out.push(
        problem(
          `${show(d)} is not a plain host name`,
          'behind the front proxy write names like app.example.org (no port, no wildcard)',
        ),
      );
    }
  }
  for (const [other, e] of Object.entries(config.environments)) {
    if (other === name) continue;
    const theirs = proxyOf(e);
    if (!theirs.front || e.host !== env.host) continue;
    const shared = mine.domains.filter((d) => theirs.domains.includes(d));
    if (shared.length)
      out.push(
        problem(
          `${shared.join(', ')} also belongs to environment ${other} on the same host`,
          'give each environment its own domains (e.g. staging.example.org and example.org)',
        ),
      );
  }
  return out;
}

function withMonitoringOverrides(
  m: Config['monitoring'],
  o: NonNullable<EnvironmentConfig['monitoring']>,
): Config['monitoring'] {
  return {
    ...m,
    ...definedOnly({ enabled: o.enabled }),
    prometheus: { ...m.prometheus, ...definedOnly(o.prometheus ?? {}) },
    grafana: { ...m.grafana, ...definedOnly(o.grafana ?? {}) },
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** a path the config names, which is relative to the config file's directory unless absolute */
export function fromConfigFile(cfg: Pick<ResolvedConfig, 'configDir'>, path: string): string {
  return isAbsolute(path) ? path : resolve(cfg.configDir, path);
}

/** files the deploy will read from beside the config: found missing now rather than halfway through a deploy */
function checkLocalPaths(
  config: Config,
  name: string,
  env: EnvironmentConfig | undefined,
  configDir: string,
  yaml: YamlSource,
  file: string,
): ConfigProblem[] {
  const wanted: { path: PropertyKey[]; value: string | undefined; dir: boolean }[] = [
    { path: ['proxy', 'caddyfile'], value: config.proxy.caddyfile, dir: false },
    { path: ['environments', name, 'proxy', 'caddyfile'], value: env?.proxy?.caddyfile, dir: false },
    { path: ['database', 'init_dir'], value: config.database.init_dir, dir: true },
    { path: ['front_proxy', 'acme_ca_root'], value: config.front_proxy.acme_ca_root, dir: false },
    {
      path: ['images', 'postgres_dockerfile'],
      value: ['builtin', 'none'].includes(config.images.postgres_dockerfile)
        ? undefined
        : config.images.postgres_dockerfile,
      dir: false,
    },
  ];
  const out: ConfigProblem[] = [];
  for (const w of wanted) {
    if (w.value === undefined) continue;
    let ok = false;
    try {
      const st = statSync(resolve(configDir, w.value));
      ok = w.dir ? st.isDirectory() : st.isFile();
    } catch {
      // missing: reported below
    }
    if (ok) continue;
    const line = yaml.locate(w.path);
    out.push({
      file,
      path: dottedPath(w.path),
      ...(line !== undefined ? { line } : {}),
      message: `${show(w.value)} is not a ${w.dir ? 'directory' : 'file'} (paths are relative to the config file's directory)`,
      remedy: 'create it, fix the path, or remove the key to use the default',
      code: 'invalid',
    });
  }
  return out;
}

function selectEnvironment(
  name: string,
  config: Config | undefined,
  yaml: YamlSource,
  file: string,
  problems: ConfigProblem[],
): EnvironmentConfig | undefined {
  const raw = yaml.data.environments;
  const defined = config
    ? Object.keys(config.environments)
    : raw && typeof raw === 'object' && !Array.isArray(raw)
      ? Object.keys(raw)
      : [];
  if (defined.includes(name)) return config?.environments[name];
  if (!raw || typeof raw !== 'object') return undefined; // "environments is required" already says it
  const line = yaml.locate(['environments'], true);
  problems.push({
    file,
    path: 'environments',
    ...(line !== undefined ? { line } : {}),
    message: `has no environment "${name}"`,
    remedy: defined.length
      ? `deploy one of: ${defined.join(', ')}; or add environments.${name}`
      : `add environments.${name}`,
    code: 'unknown-environment',
  });
  return undefined;
}
