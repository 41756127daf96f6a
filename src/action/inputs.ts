import { z } from 'zod';
import { DeployError } from '../errors.js';

/**
 * Every action input, read and validated in one place before anything else happens. Input names keep their
 * hyphens in the environment (INPUT_SSH-PRIVATE-KEY), so they are read from env directly, which also lets
 * tests drive the bundle exactly as the runner does.
 */
const bool = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '']))
  .transform((s) => s === 'true');

export const InputsSchema = z.object({
  // snapshot = snapshot-create (what the nightly workflow runs)
  command: z
    .enum([
      'deploy',
      'rollback',
      'versions',
      'status',
      'unlock',
      'snapshot',
      'snapshot-create',
      'snapshot-list',
      'snapshot-verify',
      'snapshot-cleanup',
      'snapshot-restore',
      'snapshot-copy',
      'snapshot-check',
    ])
    .default('deploy'),
  environment: z
    .string({ error: 'is required: the environment name from the config file' })
    .regex(/^[a-z][a-z0-9-]{0,39}$/, 'an environment name from the config file (lowercase letters, digits, "-")'),
  /** the job's GitHub environment, when its name differs from the config environment; '' = environment */
  'github-environment': z.string().max(255).default(''),
  version: z.string().max(200).default(''),
  config: z
    .string()
    .regex(/^[A-Za-z0-9_./-]+$/, 'a path inside the workspace')
    .refine(
      (p) => !p.startsWith('/') && !p.split('/').includes('..'),
      'a path inside the workspace: relative, without ".."',
    )
    .default('config/deployment.yml'),
  'env-file': z.string().default(''),
  'ssh-private-key': z
    .string({ error: "is required: the deploy user's private key (pass it from a secret)" })
    .min(1, "the deploy user's private key is required"),
  'ssh-passphrase': z.string().default(''),
  'ssh-known-hosts': z
    .string({
      error: 'is required: pin the host key with the known_hosts line(s) of the host (pass them from a secret)',
    })
    .min(1, 'pin the host key: pass the known_hosts line(s) of the host'),
  'dry-run': bool.default(false),
  'skip-ci-check': bool.default(false),
  'required-checks': z.string().default(''),
  'ci-timeout': z
    .string()
    .regex(/^\d+(ms|s|m|h)$/, 'a duration like 20m')
    .default('20m'),
  'skip-migrations': bool.default(false),
  force: bool.default(false),
  confirm: z.string().default(''),
  snapshot: z
    .string()
    .regex(/^[A-Za-z0-9_-]+_\d{8}_\d{6}_[0-9a-f]{7}\.sql\.gz$/, 'a snapshot file name as `snapshot-list` shows it')
    .or(z.literal(''))
    .default(''),
  'stop-app': bool.default(false),
  'from-offsite': bool.default(false),
  'github-token': z.string().default(''),
  'webhook-secret': z.string().default(''),
  'rclone-config': z.string().default(''),
  'snapshot-identity': z.string().default(''),
});

export type Inputs = z.output<typeof InputsSchema>;

export function readInputs(env: NodeJS.ProcessEnv): Inputs {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(InputsSchema.shape)) {
    const v = env[`INPUT_${key.toUpperCase()}`];
    // secrets keep their whitespace (a key's trailing newline matters); the rest is trimmed
    if (v !== undefined && v !== '') raw[key] = /key|known-hosts|env-file|passphrase|token/.test(key) ? v : v.trim();
  }
  const r = InputsSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `input ${i.path.join('.')}: ${i.message}`);
    throw new DeployError(
      'config',
      `the action's inputs are not valid:\n  ${lines.join('\n  ')}`,
      'fix the with: block of the step that uses togather-deploy',
    );
  }
  return r.data;
}

export function splitList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
