// What the operator does after init, in order: fill in the secrets, check and prepare the host from the
// workstation, commit (without pushing) and deploy once from there, then give GitHub its environments and
// secrets, and only then push.
import { envFilePath } from './config-template.js';
import type { GitHubRepo } from './repository.js';
import { snapshotGitHubEnvironment, WORKFLOW_FILES } from './workflow-templates.js';

export interface NextStepsInput {
  environments: string[];
  repo: GitHubRepo | undefined;
  /** the Dockerfile init wrote, when it wrote one */
  wroteDockerfile?: string;
  /** each environment's SSH host: environments on different hosts get a key each */
  hosts?: Record<string, string>;
  /** the domains of each environment behind its host's shared front proxy */
  front?: Record<string, string[]>;
}

const KEY = '~/.ssh/togather_deploy';

/**
 * The deploy key of each environment: one key per host (docs/security.md). Environments sharing a host share its
 * deploy user, so they share its key; only when they are on different hosts does each host get its own.
 */
export function deployKeys(environments: string[], hosts: Record<string, string> = {}): Map<string, string> {
  const distinct = new Set(environments.map((e) => hosts[e] ?? ''));
  const perHost = distinct.size > 1 && !distinct.has('');
  return new Map(environments.map((e) => [e, perHost ? `${KEY}_${hosts[e]!}` : KEY]));
}

export function nextSteps(n: NextStepsInput): string[] {
  const first = n.environments[0]!;
  const repo = n.repo ? `${n.repo.owner}/${n.repo.name}` : 'OWNER/REPO';
  const keys = deployKeys(n.environments, n.hosts);
  const key = (e: string) => keys.get(e)!;
  const oneKey = new Set(keys.values()).size === 1;
  const out: string[] = ['Next steps:'];
  let number = 0;
  const step = (text: string, ...commands: string[]) => {
    out.push(`${++number}. ${text}`);
    for (const c of commands) out.push(`     ${c}`);
  };
  step(
    `Replace every CHANGE_ME in ${n.environments.map(envFilePath).join(', ')} ` +
      '(POSTGRES_PASSWORD and the password inside DATABASE_URL must be equal; `openssl rand -hex 24`).',
  );
  step(
    oneKey
      ? `Check everything locally, nothing is connected to (${KEY} is the deploy user's private key; ` +
          'keep an offline copy of it):'
      : 'Check everything locally, nothing is connected to (one deploy key per host, ' +
          `${KEY}_<host>; keep an offline copy of each):`,
    ...n.environments.map((e) => `togather-deploy validate ${e} -i ${key(e)}`),
  );
  const behind = Object.keys(n.front ?? {});
  const front = behind.flatMap((e) => n.front![e]!);
  const frontHosts = new Set(behind.map((e) => n.hosts?.[e]));
  const records =
    front.length > 1 ? `A records of ${front.slice(0, -1).join(', ')} and ${front.at(-1)!}` : `A record of ${front[0]}`;
  const server = frontHosts.size === 1 && !frontHosts.has(undefined) ? [...frontHosts][0]! : "each environment's host";
  step(
    (front.length > 0
      ? `Point the ${records} at ${server}: ` +
        "the host's front proxy serves them all and obtains their certificates, so ports 80 and 443 (and SSH) " +
        'are the only ones to open. '
      : '') + 'Prepare each host (Docker, directories, the proxy):',
    ...n.environments.map((e) => `togather-deploy setup ${e} -i ${key(e)}`),
  );
  step(
    `Commit ${n.wroteDockerfile ? `${n.wroteDockerfile} (only commits containing it can be built), ` : ''}` +
      'config/deployment.yml, config/known_hosts, .gitignore and .github/workflows (a deploy builds the committed ' +
      'tree), but do not push yet: a push runs the deploy workflow, and a GitHub environment that does not exist ' +
      `then is created without any protection. Deploy ${first} once from here (a workstation has no CI gate: ` +
      '--skip-ci-check, which is recorded):',
    `togather-deploy deploy ${first} -i ${key(first)} --skip-ci-check`,
  );
  const ghEnvs = new Set<string>();
  n.environments.forEach((e, i) => {
    ghEnvs.add(e);
    ghEnvs.add(snapshotGitHubEnvironment(n.environments, i));
  });
  const last = n.environments[n.environments.length - 1]!;
  const policy = '{"deployment_branch_policy":{"protected_branches":false,"custom_branch_policies":true}}';
  step(
    'Create the GitHub environment' +
      (ghEnvs.size > 1 ? 's' : '') +
      ', each deployable from the main branch only' +
      (n.environments.length > 1
        ? `; then give ${last} required reviewers in Settings → Environments (the API wants reviewer ids), and ` +
          `none to ${last}-snapshots, where the nightly snapshot and the rollback workflow's versions/status run:`
        : ':'),
    ...[...ghEnvs].flatMap((g) => [
      `echo '${policy}' | gh api -X PUT repos/${repo}/environments/${g} --input -`,
      `gh api -X POST repos/${repo}/environments/${g}/deployment-branch-policies -f name=main -f type=branch`,
    ]),
  );
  const secrets: string[] = [];
  n.environments.forEach((e, i) => {
    for (const g of new Set([e, snapshotGitHubEnvironment(n.environments, i)])) {
      secrets.push(
        `gh secret set SSH_PRIVATE_KEY --env ${g} < ${key(e)}`,
        `gh secret set SSH_KNOWN_HOSTS --env ${g} < config/known_hosts`,
        `gh secret set ENV_FILE --env ${g} < ${envFilePath(e)}`,
      );
    }
  });
  step(
    'Store the three secrets on each of them' +
      (ghEnvs.size > n.environments.length
        ? ` (${last}-snapshots too; whenever you change ${last}'s env file or key later, update both):`
        : ':'),
    ...secrets,
  );
  step(
    `Now push to main: ${WORKFLOW_FILES.deploy} deploys ${n.environments.join(', then ')}` +
      (n.environments.length > 1 ? ` (${last} after an approval)` : '') +
      `; ${WORKFLOW_FILES.rollback} and ${WORKFLOW_FILES.snapshot} run from the Actions tab once they are on main.`,
  );
  return out;
}
