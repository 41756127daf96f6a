// What the operator does after init, in order: fill in the secrets, check and prepare the host from the
// workstation, deploy once from there, then give GitHub its environments and secrets and commit.
import { envFilePath } from './config-template.js';
import type { GitHubRepo } from './repository.js';
import { snapshotGitHubEnvironment, WORKFLOW_FILES } from './workflow-templates.js';

export interface NextStepsInput {
  environments: string[];
  repo: GitHubRepo | undefined;
  /** the Dockerfile init wrote, when it wrote one */
  wroteDockerfile?: string;
}

const KEY = '~/.ssh/togather_deploy';

export function nextSteps(n: NextStepsInput): string[] {
  const first = n.environments[0]!;
  const repo = n.repo ? `${n.repo.owner}/${n.repo.name}` : 'OWNER/REPO';
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
    `Check everything locally, nothing is connected to (${KEY} is the deploy user's private key):`,
    ...n.environments.map((e) => `togather-deploy validate ${e} -i ${KEY}`),
  );
  step(
    'Prepare each host (Docker, directories, the proxy):',
    ...n.environments.map((e) => `togather-deploy setup ${e} -i ${KEY}`),
  );
  step(
    `Commit ${n.wroteDockerfile ? `${n.wroteDockerfile} (only commits containing it can be built), ` : ''}` +
      'config/deployment.yml, config/known_hosts, .gitignore and .github/workflows (a deploy builds the committed ' +
      `tree), then deploy ${first} once from here (a workstation has no CI gate: --skip-ci-check, which is recorded):`,
    `togather-deploy deploy ${first} -i ${KEY} --skip-ci-check`,
  );
  const ghEnvs = new Set<string>();
  n.environments.forEach((e, i) => {
    ghEnvs.add(e);
    ghEnvs.add(snapshotGitHubEnvironment(n.environments, i));
  });
  const last = n.environments[n.environments.length - 1]!;
  step(
    n.environments.length > 1
      ? `Create the GitHub environments; then, in Settings → Environments, give ${last} required reviewers and ` +
          `restrict ${last}-snapshots (no reviewers: the nightly snapshot) to the main branch:`
      : 'Create the GitHub environment:',
    ...[...ghEnvs].map((g) => `gh api -X PUT repos/${repo}/environments/${g}`),
  );
  const secrets: string[] = [];
  n.environments.forEach((e, i) => {
    for (const g of new Set([e, snapshotGitHubEnvironment(n.environments, i)])) {
      secrets.push(
        `gh secret set SSH_PRIVATE_KEY --env ${g} < ${KEY}`,
        `gh secret set SSH_KNOWN_HOSTS --env ${g} < config/known_hosts`,
        `gh secret set ENV_FILE --env ${g} < ${envFilePath(e)}`,
      );
    }
  });
  step('Store the three secrets on each of them:', ...secrets);
  step(
    `Push to main: ${WORKFLOW_FILES.deploy} deploys ${n.environments.join(', then ')}; ` +
      `${WORKFLOW_FILES.rollback} and ${WORKFLOW_FILES.snapshot} run from the Actions tab.`,
  );
  return out;
}
