import { script } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import { Layout } from './layout.js';

// Every stack on the host names its directory in compose's working_dir label, whichever config file deployed
// it; the config's own neighbours are read too, in case their containers are gone. Our own is skipped.
const READ_STATES = `
own=$(cd -- "$1" 2>/dev/null && pwd -P); shift
{ docker ps -a --filter label=org.togather.role=gate --format '{{.Label "com.docker.compose.project.working_dir"}}' 2>/dev/null
  for p in "$@"; do printf '%s\\n' "$p"; done; } | sort -u | while IFS= read -r d; do
  [ -n "$d" ] || continue
  r=$(cd -- "$d" 2>/dev/null && pwd -P) || continue
  [ "$r" = "$own" ] && continue
  [ -f "$r/state.json" ] && { cat -- "$r/state.json"; echo; echo '---'; }
done
exit 0
`;

/**
 * Environments that share this host share its images: their current, previous and rollback-target versions are
 * protected too, so cleaning staging never removes the image production would roll back to — also when the
 * other environment was deployed from another config file (found through its containers' compose labels).
 */
export async function versionsOfNeighbours(ctx: EngineContext, layout = new Layout(ctx.cfg)): Promise<string[]> {
  const me = ctx.cfg.env;
  const paths = Object.entries(ctx.cfg.config.environments)
    .filter(([name, e]) => name !== ctx.cfg.environment && e.host === me.host && e.port === me.port && e.user === me.user)
    .map(([name, e]) => (e.path ?? `togather/${name}`).replace(/\/+$/, ''));
  const r = await ctx.host.run(script(READ_STATES, layout.root, ...paths), { check: false });
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
