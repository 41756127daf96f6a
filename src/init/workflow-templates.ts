// The caller workflows init writes into the operator's .github/workflows. Each calls one of togather-deploy's
// reusable workflows pinned to a release tag, grants exactly the permissions the called job asks for (a called
// workflow can never get more than its caller grants) and maps each secret by name (never `secrets: inherit`).

export const WORKFLOW_FILES = {
  deploy: '.github/workflows/togather-deploy.yml',
  rollback: '.github/workflows/togather-rollback.yml',
  snapshot: '.github/workflows/togather-snapshot.yml',
} as const;

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
export function snapshotGitHubEnvironment(envs: string[], index: number): string {
  const env = envs[index]!;
  return envs.length > 1 && index === envs.length - 1 ? `${env}-snapshots` : env;
}

export function renderDeployWorkflow(envs: string[], tag: string): string {
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

export function renderRollbackWorkflow(envs: string[], tag: string): string {
  const options = envs.map((e) => `          - ${e}`).join('\n');
  // versions and status read the environment's secrets but change nothing: on the environment behind an approval
  // they run in its reviewer-free twin (the one the nightly snapshot uses), so listing needs no approval.
  const twins = envs.map((e, i) => [e, snapshotGitHubEnvironment(envs, i)] as const).filter(([e, g]) => e !== g);
  const githubEnvironment = twins
    .map(
      ([e, g]) =>
        '      # versions/status on ' +
        `${e} run in ${g} (no reviewers, same secrets); a rollback waits for ${e}'s reviewers\n` +
        `      github-environment: \${{ inputs.command != 'rollback' && inputs.environment == '${e}' && '${g}' || '' }}\n`,
    )
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

export function renderSnapshotWorkflow(envs: string[], tag: string): string {
  const include = envs
    .map(
      (e, i) => `          - environment: ${e}\n            github-environment: ${snapshotGitHubEnvironment(envs, i)}`,
    )
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
