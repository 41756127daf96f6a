/**
 * Builds the engine's `ciGate(sha)` port from the environment (CLI) or from action inputs, so the engine
 * never reads GitHub settings itself.
 */
import { parseDuration } from '../config/duration.js';
import { DeployError } from '../errors.js';
import type { Reporter } from '../log/reporter.js';
import { verifyCommitPassed, type CiGateResult } from './ci-gate.js';
import { readGitHubContext } from './context.js';

export interface CiGateSettings {
  /** overrides GITHUB_TOKEN / GH_TOKEN (the action passes its github-token input) */
  token?: string;
  /** names that must pass; empty = every check on the commit except this run's own */
  required?: string[];
  /** default 20 minutes */
  timeoutMs?: number;
  /** the same as a duration text ("20m", the ci-timeout input); timeoutMs wins when both are given */
  timeout?: string;
  /** default 15 s */
  pollIntervalMs?: number;
  /** receives the gate's result (e.g. for the summary) */
  onResult?: (result: CiGateResult) => void;
}

export const DEFAULT_CI_TIMEOUT_MS = 20 * 60_000;
export const DEFAULT_CI_POLL_MS = 15_000;

/**
 * The gate, or undefined when there is no token or no repository to ask (the caller decides whether that
 * is an error or a deliberate skip). Throws DeployError('config') on a malformed GitHub context.
 */
export function makeCiGate(
  env: Record<string, string | undefined>,
  reporter: Pick<Reporter, 'info'>,
  settings: CiGateSettings = {},
): ((sha: string) => Promise<void>) | undefined {
  const token = settings.token || env.GITHUB_TOKEN || env.GH_TOKEN;
  const ctx = readGitHubContext(env);
  if (!token || !ctx.owner || !ctx.repo) return undefined;
  const { owner, repo } = ctx;
  let deadlineMs = settings.timeoutMs ?? DEFAULT_CI_TIMEOUT_MS;
  if (settings.timeoutMs === undefined && settings.timeout) {
    const parsed = parseDuration(settings.timeout);
    if (parsed === undefined) {
      throw new DeployError(
        'config',
        `CI timeout "${settings.timeout}" is not a duration`,
        'write it like 20m, 90s or 1h',
      );
    }
    deadlineMs = parsed;
  }
  return async (sha: string) => {
    const result = await verifyCommitPassed({
      apiUrl: ctx.apiUrl,
      token,
      owner,
      repo,
      sha,
      required: settings.required ?? [],
      ...(ctx.runId ? { ownRunId: ctx.runId } : {}),
      deadlineMs,
      pollIntervalMs: settings.pollIntervalMs ?? DEFAULT_CI_POLL_MS,
      log: (line) => reporter.info(line),
    });
    settings.onResult?.(result);
  };
}

/** "a, b\nc" → ["a", "b", "c"]: the required-checks input takes lines or commas */
export function parseRequiredChecks(text: string | undefined): string[] {
  return [
    ...new Set(
      (text ?? '')
        .split(/[\n,]/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}
