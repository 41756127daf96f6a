import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { join } from 'node:path';
import type { BuildCache } from '../engine/index.js';

/**
 * The build's layer cache on GitHub runners, kept between runs by the Actions cache service. Keyed by commit
 * with a prefix fallback, so a new commit starts from the newest earlier cache. Unavailable (self-hosted
 * without the service, or run outside Actions) → undefined, and builds run without a cache.
 */
export function actionsBuildCache(env: NodeJS.ProcessEnv, sha: string | undefined): BuildCache | undefined {
  if (!cache.isFeatureAvailable() || !env.RUNNER_TEMP) return undefined;
  const dir = join(env.RUNNER_TEMP, 'togather-build-cache');
  const prefix = `togather-deploy-build-${env.RUNNER_OS ?? 'Linux'}-`;
  const key = `${prefix}${sha ?? env.GITHUB_SHA ?? 'unknown'}`;
  return {
    dir,
    async restore() {
      const hit = await cache.restoreCache([dir], key, [prefix]);
      return hit !== undefined;
    },
    async save() {
      try {
        await cache.saveCache([dir], key);
      } catch (e) {
        // the same key saved by an earlier attempt of this run is not a problem
        core.info(`build cache not saved: ${(e as Error).message}`);
      }
    },
  };
}
