/**
 * Container images for the harness, built from this machine's own binaries (no registry is reachable): a root
 * filesystem is staged from host files plus every library `ldd` names, imported with `docker import` (which
 * keeps file ownership, unlike a Dockerfile COPY), then given its metadata (ENV, ENTRYPOINT, STOPSIGNAL, …) by a
 * Dockerfile read from stdin. Each image carries a recipe label; an image whose label matches is reused, so a
 * warm harness builds nothing.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerApi, pipeline, run } from './proc.js';

export const IMAGE_NAMES = {
  caddy: 'togather-test/caddy:2.6.2',
  /** PostgreSQL 17 + PostGIS 3.5 + pgvector from Debian 13's packages: what the Togather server needs */
  postgres: 'togather-test/postgis:17',
  gate: 'togather-test/gate:1',
  /** busybox and a docker CLI: what the keeper needs of docker:27-cli */
  keeper: 'togather-test/keeper:1',
  nodeBase: 'togather-test/node-base:20',
  /** TEST FIXTURE: a stand-in for golang-migrate's CLI (psql + a shell script), see image-files/migrate-fixture.sh */
  migrateFixture: 'togather-test/migrate-fixture:1',
} as const;

export type ImageKey = keyof typeof IMAGE_NAMES;

/** Bump when a recipe changes in a way the fingerprint below cannot see. */
const RECIPE_REVISION = '1';
export const RECIPE_LABEL = 'org.togather.harness.recipe';

const PG = '/usr/lib/postgresql/15';
const PG17 = '/usr/lib/postgresql/17';
/** where root filesystems that are slow to make (debootstrap) are kept for every harness on this machine */
const CACHE_DIR = process.env.TOGATHER_HARNESS_CACHE ?? '/var/cache/togather-harness';
const BUSYBOX = '/bin/busybox';
const NODE_UID = 1000;
const ENTRYPOINT_FILE = fileURLToPath(new URL('./image-files/postgres-entrypoint.sh', import.meta.url));
const MIGRATE_FIXTURE_FILE = fileURLToPath(new URL('./image-files/migrate-fixture.sh', import.meta.url));

/** The node binary baked into node-base: the system one, not whichever node runs the tests (e.g. node@24). */
export function nodeBinary(): string {
  return existsSync('/usr/bin/node') ? '/usr/bin/node' : process.execPath;
}

/** Host files each image is made of: checked up front (the message names the package) and fingerprinted. */
function inputs(key: ImageKey): [file: string, pkg: string][] {
  const bb: [string, string] = [BUSYBOX, 'busybox-static'];
  switch (key) {
    case 'caddy':
      return [['/usr/bin/caddy', 'caddy'], bb];
    case 'postgres':
      return [
        ['/usr/sbin/debootstrap', 'debootstrap'],
        ['/usr/share/keyrings/debian-archive-keyring.gpg', 'debian-archive-keyring'],
      ];
    case 'gate':
      return [bb];
    case 'keeper':
      return [[dockerCli(), 'docker.io'], bb];
    case 'nodeBase':
      return [[nodeBinary(), 'nodejs'], bb];
    case 'migrateFixture':
      return [[`${PG}/bin/psql`, 'postgresql-client-15'], bb];
  }
}

export function missingInputs(keys: readonly ImageKey[]): string[] {
  const out = new Set<string>();
  for (const k of keys) for (const [file, pkg] of inputs(k)) if (!existsSync(file)) out.add(`${file} (package ${pkg})`);
  return [...out];
}

interface Recipe {
  /**
   * a prepared root filesystem to stage into, in place of an empty one (docker import refuses a tarball that
   * names a path twice, so the staged files cannot be laid over it in the tarball)
   */
  base?: () => Promise<string>;
  /** fill the staged root filesystem */
  stage(fs: Rootfs): Promise<void>;
  /** Dockerfile instructions `docker import --change` accepts (not STOPSIGNAL, not HEALTHCHECK) */
  meta: string[];
  /** instructions import cannot apply: a Dockerfile build on top (each line costs a build step) */
  extra?: string[];
}

/** a docker CLI for the keeper image: the static one when the machine has it, else Debian's */
function dockerCli(): string {
  return existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : '/usr/bin/docker';
}

const RECIPES: Record<ImageKey, Recipe> = {
  keeper: {
    async stage(fs) {
      await fs.busybox();
      fs.file(dockerCli(), '/usr/local/bin/docker');
      await fs.libraries();
    },
    meta: ['ENV PATH=/usr/local/bin:/usr/bin:/bin', 'CMD ["sh"]'],
  },
  gate: {
    // the `gate` service runs `sh -c 'mkdir -p /www && exec httpd -f -p 8081 -h /www'`; tests use touch/rm/test/wget
    async stage(fs) {
      await fs.busybox();
    },
    meta: ['ENV PATH=/usr/local/bin:/usr/bin:/bin', 'CMD ["sh"]'],
  },
  caddy: {
    async stage(fs) {
      await fs.busybox();
      fs.file('/usr/bin/caddy');
      certs(fs);
      for (const d of ['/data', '/config', '/etc/caddy', '/srv']) fs.mkdir(d);
      fs.write('/etc/caddy/Caddyfile', ':80 {\n\trespond "togather-test caddy"\n}\n');
      await fs.libraries();
    },
    meta: [
      'ENV PATH=/usr/local/bin:/usr/bin:/bin XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config',
      'WORKDIR /srv',
      'EXPOSE 80 443 2019',
      'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
    ],
  },
  postgres: {
    // Debian 13's PostgreSQL 17 with PostGIS and pgvector (a root filesystem made once per machine, see
    // postgisRootfs), plus an entrypoint with the official image's contract
    base: () => postgisRootfs(),
    async stage(fs) {
      fs.write('/usr/local/bin/docker-entrypoint.sh', readFileSync(ENTRYPOINT_FILE, 'utf8'), 0o755);
    },
    meta: [
      `ENV PATH=${PG17}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PG_MAJOR=17 PGDATA=/var/lib/postgresql/data LANG=C.UTF-8`,
      'VOLUME /var/lib/postgresql/data',
      'ENTRYPOINT ["docker-entrypoint.sh"]',
      'EXPOSE 5432',
      'CMD ["postgres"]',
    ],
    // fast shutdown, as upstream: SIGTERM would wait for every client to disconnect
    extra: ['STOPSIGNAL SIGINT'],
  },
  nodeBase: {
    async stage(fs) {
      await fs.busybox();
      fs.file(nodeBinary(), '/usr/local/bin/node');
      certs(fs);
      fs.append('/etc/passwd', `node:x:${NODE_UID}:${NODE_UID}:node:/home/node:/bin/sh\n`);
      fs.append('/etc/group', `node:x:${NODE_UID}:\n`);
      fs.mkdir('/home/node', 0o755, NODE_UID);
      await fs.libraries();
    },
    meta: ['ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production', 'CMD ["node"]'],
  },
  migrateFixture: {
    // TEST FIXTURE, never deployed: golang-migrate's command line over psql (production uses migrate/migrate)
    async stage(fs) {
      await fs.busybox();
      fs.file(`${PG}/bin/psql`);
      fs.write('/usr/local/bin/migrate', readFileSync(MIGRATE_FIXTURE_FILE, 'utf8'), 0o755);
      await fs.libraries();
    },
    meta: [`ENV PATH=${PG}/bin:/usr/local/bin:/usr/bin:/bin`, 'ENTRYPOINT ["/usr/local/bin/migrate"]', 'CMD ["-help"]'],
  },
};

function certs(fs: Rootfs): void {
  const bundle = '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(bundle)) fs.file(bundle);
}

function fingerprint(key: ImageKey): string {
  const recipe = RECIPES[key];
  const h = createHash('sha256').update(
    `${RECIPE_REVISION}\0${key}\0${recipe.meta.join('\n')}\0${(recipe.extra ?? []).join('\n')}\0${recipe.stage.toString()}`,
  );
  if (key === 'postgres') h.update(POSTGIS_ROOTFS_ID);
  if (key === 'postgres') h.update(readFileSync(ENTRYPOINT_FILE));
  if (key === 'migrateFixture') h.update(readFileSync(MIGRATE_FIXTURE_FILE));
  for (const [file] of inputs(key)) {
    const st = statSync(file);
    h.update(`${file}:${st.size}:${st.mtimeMs}`);
  }
  return h.digest('hex').slice(0, 16);
}

export interface BuildResult {
  image: string;
  built: boolean;
  ms: number;
}

/**
 * Make sure `key`'s image exists on the engine behind `socket` with the current recipe; build it otherwise.
 * `workDir` holds the staged filesystem while building (removed afterwards).
 */
export async function ensureImage(
  key: ImageKey,
  socket: string,
  dockerClient: string,
  workDir: string,
): Promise<BuildResult> {
  const t0 = Date.now();
  const image = IMAGE_NAMES[key];
  const fp = fingerprint(key);
  const res = await dockerApi(socket, `/images/${encodeURIComponent(image)}/json`);
  if (res.status === 200) {
    const labels = (JSON.parse(res.body) as { Config?: { Labels?: Record<string, string> | null } }).Config?.Labels;
    if (labels?.[RECIPE_LABEL] === fp) return { image, built: false, ms: Date.now() - t0 };
  }
  const base = await RECIPES[key].base?.();
  const stageDir = base ?? join(workDir, key);
  const fs = new Rootfs(stageDir, !base);
  try {
    await RECIPES[key].stage(fs);
    const docker = [dockerClient, '-H', `unix://${socket}`];
    const recipe = RECIPES[key];
    const label = `LABEL ${RECIPE_LABEL}=${fp} org.opencontainers.image.title=${image}`;
    const changes = [...recipe.meta, label].flatMap((c) => ['--change', c]);
    const extra = recipe.extra ?? [];
    const target = extra.length > 0 ? `${image}-rootfs` : image;
    await pipeline([
      ['tar', '--numeric-owner', '-C', stageDir, '-c', '.'],
      [...docker, 'import', '--message', `togather harness ${key}`, ...changes, '-', target],
    ]);
    if (extra.length > 0) {
      // label last: an interrupted build must not leave an image that looks finished
      const dockerfile = [`FROM ${target}`, ...extra, label, ''].join('\n');
      await run([...docker, 'build', '--quiet', '--tag', image, '-'], { input: dockerfile });
    }
  } finally {
    if (!base) rmSync(stageDir, { recursive: true, force: true });
  }
  return { image, built: true, ms: Date.now() - t0 };
}

/** Stages a root filesystem in a directory. */
class Rootfs {
  private readonly elves = new Set<string>();

  /** `fresh`: an empty tree with the minimal /etc, /bin, /tmp of a from-scratch image; else an existing root */
  constructor(
    readonly dir: string,
    fresh = true,
  ) {
    if (!fresh) return;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const d of ['bin', 'etc', 'root', 'usr/bin', 'usr/local/bin']) mkdirSync(join(dir, d), { recursive: true });
    this.mkdir('/tmp', 0o1777);
    this.write('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
    this.write('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    this.write('/etc/group', 'root:x:0:\nnogroup:x:65534:\n');
  }

  private at(p: string): string {
    return join(this.dir, p);
  }

  mkdir(p: string, mode = 0o755, uid = 0): void {
    mkdirSync(this.at(p), { recursive: true });
    chmodSync(this.at(p), mode);
    chownSync(this.at(p), uid, uid);
  }

  /** atomically: a cached base tree may be staged by two harnesses at once */
  write(p: string, text: string, mode = 0o644): void {
    mkdirSync(dirname(this.at(p)), { recursive: true });
    const tmp = `${this.at(p)}.tmp.${process.pid}`;
    writeFileSync(tmp, text);
    chmodSync(tmp, mode);
    renameSync(tmp, this.at(p));
  }

  append(p: string, text: string): void {
    writeFileSync(this.at(p), readFileSync(this.at(p), 'utf8') + text);
  }

  /**
   * Put a host file (symlinks followed) into the tree, as a copy. Not a hard link: every link made or removed
   * elsewhere (another image staged at the same time, an old staging directory removed) changes the shared
   * inode's ctime, and tar then fails the build with "file changed as we read it" (seen in CI).
   */
  file(src: string, dest = src, mayBeElf = true): void {
    const to = this.at(dest);
    mkdirSync(dirname(to), { recursive: true });
    rmSync(to, { force: true });
    const real = realpathSync(src);
    copyFileSync(real, to);
    chmodSync(to, statSync(real).mode & 0o7777);
    if (mayBeElf && isElf(real)) this.elves.add(real);
  }

  /** Copy a host directory tree, symlinks kept as symlinks; `skip` filters entries by name; `data`: no ELF inside. */
  tree(src: string, dest = src, skip: (name: string) => boolean = () => false, data = false): void {
    mkdirSync(this.at(dest), { recursive: true });
    for (const ent of readdirSync(src, { withFileTypes: true })) {
      if (skip(ent.name)) continue;
      const s = join(src, ent.name);
      const d = join(dest, ent.name);
      if (ent.isSymbolicLink()) symlinkSync(readlinkSync(s), this.at(d));
      else if (ent.isDirectory()) this.tree(s, d, skip, data);
      else if (ent.isFile()) this.file(s, d, !data);
    }
  }

  /** Static busybox with a symlink per applet in /bin (sh, wget, httpd, touch, …). */
  async busybox(): Promise<void> {
    this.file(BUSYBOX, '/bin/busybox');
    const { stdout } = await run([BUSYBOX, '--list']);
    for (const name of stdout.split('\n').map((s) => s.trim())) {
      if (!name || name === 'busybox' || name.includes('/')) continue;
      const link = this.at(`/bin/${name}`);
      if (!existsSync(link)) symlinkSync('busybox', link);
    }
  }

  /** Copy the shared libraries (and the dynamic loader) of every ELF file staged so far. */
  async libraries(): Promise<void> {
    const libs = new Set<string>();
    const files = [...this.elves];
    // the loader itself lists a file's libraries: one exec per file, where ldd (a bash script) needs three
    const { stdout } = await run(
      ['sh', '-c', 'for f; do /lib64/ld-linux-x86-64.so.2 --list "$f" 2>/dev/null; done; true', 'list-libs', ...files],
      { check: false },
    );
    for (const m of stdout.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)) if (m[1]) libs.add(m[1]);
    for (const lib of libs) if (!existsSync(this.at(lib))) this.file(lib);
  }
}

function isElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === '\x7fELF';
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the PostGIS root filesystem

const POSTGIS_PACKAGES = ['postgresql-17', 'postgresql-17-postgis-3', 'postgresql-17-pgvector'];
/**
 * Run inside the fresh root: the cluster the package made is dropped (the entrypoint makes its own in PGDATA),
 * the official image's directories are made with the chroot's own postgres uid, and what a server never reads
 * (docs, man pages, apt's lists and caches, other locales) is removed to keep the image small.
 */
const POSTGIS_FINISH = `set -e
rm -rf /etc/postgresql/17/main /var/lib/postgresql/17
mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d /usr/local/bin
chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /var/run/postgresql
chmod 700 /var/lib/postgresql/data
chmod 2777 /var/run/postgresql
rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/*
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C*' -exec rm -rf {} +
`;
const POSTGIS_ROOTFS_ID = createHash('sha256')
  .update(`trixie\0${POSTGIS_PACKAGES.join(',')}\0${POSTGIS_FINISH}`)
  .digest('hex')
  .slice(0, 12);

/** the Debian archive this machine's apt uses (its own sources name it; nothing is hard-coded) */
function debianMirror(): string {
  if (process.env.TOGATHER_DEBIAN_MIRROR) return process.env.TOGATHER_DEBIAN_MIRROR;
  const texts: string[] = [];
  for (const d of ['/etc/apt/sources.list.d']) {
    if (existsSync(d))
      for (const f of readdirSync(d))
        if (f.endsWith('.sources') || f.endsWith('.list')) texts.push(readFileSync(join(d, f), 'utf8'));
  }
  if (existsSync('/etc/apt/sources.list')) texts.push(readFileSync('/etc/apt/sources.list', 'utf8'));
  for (const t of texts) {
    for (const stanza of t.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri && /\/debian\/?$/.test(uri) && /^Suites:.*\bbookworm\b/m.test(stanza)) return uri;
    }
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian\/?)\s+bookworm\s/m.exec(t);
    if (line?.[1]) return line[1];
  }
  throw new Error('no Debian archive in /etc/apt sources for debootstrap; set TOGATHER_DEBIAN_MIRROR');
}

/**
 * PostgreSQL 17 + PostGIS + pgvector from Debian 13 by debootstrap (~1 min, ~1 GB), made once per machine under
 * CACHE_DIR and reused by every harness (both stacks, every clone): a cold CI machine pays it once.
 */
async function postgisRootfs(): Promise<string> {
  const dir = join(CACHE_DIR, `postgis17-rootfs-${POSTGIS_ROOTFS_ID}`);
  // the marker sits beside the tree (not in it, where the image would carry it)
  if (existsSync(`${dir}.complete`)) return dir;
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${dir}.tmp.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const r = await run(
      ['debootstrap', '--variant=minbase', `--include=${POSTGIS_PACKAGES.join(',')}`, 'trixie', tmp, debianMirror()],
      { check: false, timeoutMs: 15 * 60_000 },
    );
    if (r.code !== 0)
      throw new Error(
        `debootstrap of the PostGIS root filesystem failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`,
      );
    await run(['chroot', tmp, '/bin/sh', '-c', POSTGIS_FINISH]);
    rmSync(dir, { recursive: true, force: true });
    await run(['mv', tmp, dir]);
    writeFileSync(`${dir}.complete`, `${new Date().toISOString()}\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
