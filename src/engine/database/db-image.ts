import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { DeployError } from '../../errors.js';
import { readAsset } from '../assets.js';
import type { EngineContext } from '../context.js';
import { dbImageBuildCmd, dbImagePresentCmd } from './commands.js';

/** the database image the stack runs: images.postgres, or that image extended by a Dockerfile (pgvector) */
export interface DbImage {
  ref: string;
  /** present when ref must be built on the host from images.postgres */
  build?: { dockerfile: string; base: string; source: string };
}

/** The image to run and how to make it. Pure: the tag is a digest of the Dockerfile and the base image. */
export function dbImage(ctx: EngineContext): DbImage {
  const images = ctx.cfg.config.images;
  const choice = images.postgres_dockerfile;
  if (choice === 'none') return { ref: images.postgres };
  const source = choice === 'builtin' ? 'docker/db/Dockerfile (builtin)' : choice;
  const dockerfile = choice === 'builtin' ? readAsset('docker', 'db', 'Dockerfile') : readConfigFile(ctx, choice);
  const digest = createHash('sha256').update(`${images.postgres}\0${dockerfile}`).digest('hex').slice(0, 16);
  return { ref: `togather-postgres:${digest}`, build: { dockerfile, base: images.postgres, source } };
}

function readConfigFile(ctx: EngineContext, path: string): string {
  const file = isAbsolute(path) ? path : join(ctx.cfg.configDir, path);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new DeployError(
      'config',
      `images.postgres_dockerfile: cannot read ${file} (${(e as Error).message})`,
      'point it at a Dockerfile, or write builtin or none',
    );
  }
}

/**
 * Builds the extended database image on the host unless it is there already: no round trip when the database
 * container already runs it (`running`, from the stack inspection), one when it may be present. The
 * host pulls the base like it pulls Caddy; the Dockerfile travels on stdin, so nothing else of the runner's
 * reaches the build.
 */
export async function ensureDbImage(ctx: EngineContext, img: DbImage, running?: string): Promise<void> {
  if (!img.build || running === img.ref) return;
  const present = await ctx.host.run(dbImagePresentCmd(img.ref), { check: false, timeoutMs: 30_000 });
  if (present.code === 0) return;
  if (ctx.dryRun) {
    ctx.reporter.info(
      `would build the database image ${img.ref} on the host from ${img.build.source} over ${img.build.base}`,
    );
    return;
  }
  ctx.reporter.info(
    `building the database image ${img.ref} on the host (${img.build.source} over ${img.build.base}); once per change of either`,
  );
  const r = await ctx.host.run(dbImageBuildCmd(img.ref, img.build.base), {
    stdin: img.build.dockerfile,
    check: false,
    timeoutMs: 30 * 60_000,
  });
  if (r.code !== 0) {
    throw new DeployError(
      'preflight',
      `building the database image ${img.ref} on the host failed: ` +
        `${ctx.redactor.redact(r.stderr.trim().split('\n').slice(-6).join(' / '))}; nothing was switched`,
      "the host must reach the base image's registry and its apt mirror; " +
        'or build the image elsewhere and set images.postgres to it with images.postgres_dockerfile: none',
    );
  }
}
