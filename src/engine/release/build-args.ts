import { DeployError } from '../../errors.js';

/**
 * The build arguments docker/Dockerfile requires, and the only ones the action passes. The Dockerfile declares
 * them without defaults and refuses to build when one is missing, so a renamed argument fails the build instead
 * of producing an image that reports "unknown" and can never be matched to the deployed SHA.
 * test/unit/dockerfile.test.ts checks that this list and the Dockerfile agree.
 */
export const BUILD_ARGS = ['GIT_COMMIT', 'GIT_SHORT_COMMIT', 'VERSION', 'BUILD_TIMESTAMP'] as const;
export type BuildArg = (typeof BUILD_ARGS)[number];

/**
 * Arguments the Dockerfile also declares, each with a default, that the action never passes: knobs for an
 * operator whose server tree differs (e.g. the Go package that holds Version/GitCommit/BuildDate).
 */
export const OPTIONAL_BUILD_ARGS = ['VERSION_PKG'] as const;

const FULL_SHA = /^[0-9a-f]{40}$/;
// VERSION lands inside a quoted -ldflags string in the Dockerfile: keep it to characters that need no quoting.
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+/-]{0,127}$/;

/** Values for `docker build --build-arg K=V`, one per BUILD_ARGS entry. */
export function buildArgs(sha: string, version: string, now: Date): Record<BuildArg, string> {
  if (!FULL_SHA.test(sha)) {
    throw new DeployError('image', `build needs a full 40-hex commit SHA, got "${sha}"`);
  }
  if (!VERSION_RE.test(version)) {
    throw new DeployError(
      'config',
      `version "${version}" cannot be embedded in the build`,
      'use letters, digits and . _ + / - only (at most 128 characters), starting with a letter or digit',
    );
  }
  if (Number.isNaN(now.getTime())) throw new DeployError('image', 'build timestamp is not a valid date');
  return {
    GIT_COMMIT: sha,
    GIT_SHORT_COMMIT: sha.slice(0, 7),
    VERSION: version,
    // second precision, UTC: the same form `date -u +%Y-%m-%dT%H:%M:%SZ` gives
    BUILD_TIMESTAMP: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}
