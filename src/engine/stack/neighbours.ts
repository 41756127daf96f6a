import type { EngineContext } from '../context.js';
import { neighbourStatesCmd } from './commands.js';
import { Layout } from './layout.js';

/**
 * Environments that share this host share its images: their current, previous and rollback-target versions are
 * protected too, so cleaning staging never removes the image production would roll back to — also when the
 * other environment was deployed from another config file (found through its containers' compose labels).
 */
export async function versionsOfNeighbours(ctx: EngineContext, layout = new Layout(ctx.cfg)): Promise<string[]> {
  const me = ctx.cfg.env;
  const paths = Object.entries(ctx.cfg.config.environments)
    .filter(
      ([name, e]) => name !== ctx.cfg.environment && e.host === me.host && e.port === me.port && e.user === me.user,
    )
    .map(([name, e]) => (e.path ?? `togather/${name}`).replace(/\/+$/, ''));
  const r = await ctx.host.run(neighbourStatesCmd(layout, paths), { check: false });
  const versions: string[] = [];
  for (const chunk of r.stdout.split('\n---\n')) {
    try {
      const s = JSON.parse(chunk) as { history?: { version: string; status: string }[] };
      for (const h of s.history ?? []) if (h.status === 'active' || h.status === 'superseded') versions.push(h.version);
    } catch {
      /* an unreadable neighbour state protects nothing extra; its images in use by containers stay anyway */
    }
  }
  return versions;
}
