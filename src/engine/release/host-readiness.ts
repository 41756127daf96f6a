import { cmd, script, type Command } from '../../host/host.js';
import { quoteArgv } from '../../util/shell.js';
import type { EngineContext } from '../context.js';
import type { Layout } from '../stack/layout.js';
import { composeOf, parsePreflight, preflightCmd, versionAtLeast } from './preflight.js';

/*
 * What a host needs before its first deploy, learned read-only in one round trip and judged check by check
 * (setup's facts; the deploy's own preflight stays the gate each deploy passes). The facts come from two
 * scripts sent side by side over the one SSH connection: the deploy's PREFLIGHT (docker, compose, free space:
 * the same probe, so setup and deploy never disagree on those) and SETUP_PROBE below (everything else).
 */

export interface SetupCheck {
  name: string;
  status: 'ok' | 'created' | 'installed' | 'warn' | 'fail';
  detail: string;
  /** exact commands to run as root, one per line (a line starting with # is a note) */
  fix?: string[];
}

/** a check, and the root commands `setup --install` may run for it with `sudo -n` (only ever for a failure) */
export interface Judged {
  check: SetupCheck;
  install?: Command[];
}

// $1 the environment's root (relative paths start in the home directory); $2 "1": also learn whether
// `sudo -n` works and, when it does, sshd's effective PasswordAuthentication. Read-only; every probe prints
// whole key=value lines (a container= line per running container). The docker calls run side by side.
export const SETUP_PROBE = `
printf 'now=%s\\n' "$(date +%s)"
printf 'user=%s\\ngroup=%s\\nhome=%s\\n' "$(id -un)" "$(id -gn)" "$HOME"
if command -v docker >/dev/null 2>&1; then
  err=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)
  case $err in
    "") ;;
    *"ermission denied"*) echo docker_err=permission ;;
    *"Cannot connect to the Docker daemon"*|*"daemon running"*) echo docker_err=daemon ;;
    *) echo docker_err=other; printf 'docker_err_text=%s\\n' "$(printf '%s\\n' "$err" | head -n 1 | cut -c 1-200)" ;;
  esac
  ( if docker buildx version >/dev/null 2>&1; then echo buildx=yes; else echo buildx=no; fi ) &
  ( printf 'log_driver=%s\\n' "$(docker info --format '{{.LoggingDriver}}' 2>/dev/null)" ) &
  ( docker ps --format '{{.Names}} {{.Ports}}' 2>/dev/null | while IFS= read -r c; do printf 'container=%s\\n' "$c"; done ) &
else
  echo docker_err=missing
fi
printf 'docker_group=%s\\n' "$(getent group docker 2>/dev/null | cut -d: -f4)"
f=/etc/docker/daemon.json
if [ -r "$f" ]; then
  echo daemon_json=read; printf 'daemon_json_b64=%s\\n' "$(base64 < "$f" | tr -d '\\n')"
elif [ -e "$f" ] || { [ -d /etc/docker ] && [ ! -x /etc/docker ]; }; then echo daemon_json=unreadable
else echo daemon_json=absent; fi
l=
for t in /proc/net/tcp /proc/net/tcp6; do
  [ -r "$t" ] && l="$l $(awk 'FNR > 1 && $4 == "0A" { printf "%s ", $2 }' "$t")" && echo proc_net=yes
done
printf 'listen=%s\\n' "$l"
if [ -d "$1" ]; then
  if [ -w "$1" ] && [ -x "$1" ]; then echo stack_dir=present; else echo stack_dir=readonly; fi
elif [ -e "$1" ]; then echo stack_dir=notdir
else echo stack_dir=absent; fi
if [ "$2" = 1 ]; then
  if sudo -n true >/dev/null 2>&1; then
    echo sudo=yes
    printf 'sshd_password=%s\\n' "$(sudo -n sshd -T 2>/dev/null | awk '$1 == "passwordauthentication" { print $2 }')"
  else echo sudo=no; fi
fi
wait
exit 0
`;

export function setupProbeCmd(layout: Layout, withSudo: boolean): Command {
  return script(SETUP_PROBE, layout.root, withSudo ? '1' : '0');
}

/** a root command as setup --install runs it: never asks for a password */
export function sudoCmd(argv: readonly string[]): Command {
  return cmd('sudo', '-n', ...argv);
}

export interface ReadinessFacts {
  /** the deploy's own preflight facts (docker, compose1/2, free_kb, docker_free_kb, docker_host) */
  pre: Record<string, string>;
  /** SETUP_PROBE's facts */
  probe: Record<string, string>;
  /** running containers: "name ports" */
  containers: string[];
}

export async function readReadinessFacts(
  ctx: EngineContext,
  layout: Layout,
  withSudo: boolean,
): Promise<ReadinessFacts> {
  const [pre, probe] = await Promise.all([
    ctx.host.run(preflightCmd(layout), { check: false, timeoutMs: 30_000 }),
    ctx.host.run(setupProbeCmd(layout, withSudo), { check: false, timeoutMs: 30_000 }),
  ]);
  const containers = probe.stdout
    .split('\n')
    .filter((l) => l.startsWith('container='))
    .map((l) => l.slice('container='.length).trim());
  return { pre: parsePreflight(pre.stdout), probe: parsePreflight(probe.stdout), containers };
}

export interface ReadinessInput {
  layout: Layout;
  minFreeMb: number;
  proxy: { http_port: number; https_port: number; bind: string };
  /** this machine's time when the probe was sent, ms */
  localNowMs: number;
  /** the configured SSH user, when the host did not say */
  user: string;
  /** the stack directory was just created by setup */
  created?: boolean;
  /** a dry run: an absent stack directory is left absent */
  dryRun?: boolean;
}

export const SKEW_WARN_S = 30;
export const SKEW_FAIL_S = 300;
const LOG_OPTS = '{"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}';
const RESTART_NOTE = '# the restart stops and starts every container on this host: pick a quiet moment';

/** Judges the facts, one entry per check, in the order they are printed. Pure, so the rules are unit-tested. */
export function judgeReadiness(f: ReadinessFacts, input: ReadinessInput): Judged[] {
  const user = f.probe.user || input.user;
  const out: Judged[] = [
    judgeDocker(f, user),
    judgeCompose(f),
    judgeBuildx(f),
    judgeDisk(f, input.minFreeMb),
    judgePort(f, input, 'http', input.proxy.http_port),
    judgePort(f, input, 'https', input.proxy.https_port),
    judgeClock(f, input.localNowMs),
    judgeLogRotation(f),
    judgeStackDir(f, input, user),
  ];
  const sshd = judgeSshd(f);
  if (sshd) out.push(sshd);
  return out;
}

function rootFix(install: string[][], notes: string[] = []): Pick<Judged, 'install'> & { fix: string[] } {
  return { fix: [...install.map((a) => quoteArgv(a)), ...notes], install: install.map(sudoCmd) };
}

function judgeDocker(f: ReadinessFacts, user: string): Judged {
  const name = 'docker';
  const version = f.pre.docker ?? '';
  const err = f.probe.docker_err ?? '';
  const inGroup = (f.probe.docker_group ?? '').split(',').includes(user);
  if (err === 'missing')
    return {
      check: {
        name,
        status: 'fail',
        detail: 'docker is not installed',
        fix: [
          "# Docker's install script (https://get.docker.com): read it before you run it, or use the apt repository",
          '# of docs.docker.com/engine/install/debian; setup --install never runs it for you',
          'curl -fsSL https://get.docker.com -o /tmp/get-docker.sh',
          'sh /tmp/get-docker.sh',
          quoteArgv(['usermod', '-aG', 'docker', user]),
        ],
      },
    };
  if (err === 'permission') {
    if (inGroup)
      return {
        check: {
          name,
          status: 'fail',
          detail:
            `${user} is in the docker group, but this login started before it was added: run setup again (a new ` +
            'login); if that does not help, check the group of the socket (ls -l /var/run/docker.sock)',
        },
      };
    const r = rootFix([['usermod', '-aG', 'docker', user]], ['# then log out and in again (a new SSH login)']);
    return { check: { name, status: 'fail', detail: `${user} may not use the Docker socket`, fix: r.fix }, ...r };
  }
  if (err === 'daemon') {
    const r = rootFix([['systemctl', 'enable', '--now', 'docker']]);
    return { check: { name, status: 'fail', detail: 'the Docker daemon is not running', fix: r.fix }, ...r };
  }
  if (!version) {
    const why = f.probe.docker_err_text ? `: ${f.probe.docker_err_text}` : '';
    return { check: { name, status: 'fail', detail: `docker does not answer for ${user}${why}` } };
  }
  if (!versionAtLeast(version, [20, 10]))
    return {
      check: {
        name,
        status: 'fail',
        detail: `docker ${version} is too old; 20.10 or newer is needed`,
        fix: ['# upgrade Docker Engine, e.g. from the apt repository of docs.docker.com/engine/install/debian'],
      },
    };
  return { check: { name, status: 'ok', detail: `docker ${version}` } };
}

function judgeCompose(f: ReadinessFacts): Judged {
  const name = 'compose';
  const found = composeOf(f.pre);
  if (!found.problem) {
    const detail = f.pre.compose2
      ? `docker compose ${found.version} (v2 plugin)`
      : `docker-compose ${found.version} (v1; the compose v2 plugin is recommended)`;
    return { check: { name, status: 'ok', detail } };
  }
  const note = "# with Debian's own docker.io package instead: apt-get install -y docker-compose";
  // the plugin comes from Docker's apt repository: without docker itself there is nothing to add it to
  const r =
    f.probe.docker_err === 'missing'
      ? undefined
      : rootFix(
          [
            ['apt-get', 'update'],
            ['apt-get', 'install', '-y', 'docker-compose-plugin'],
          ],
          [note],
        );
  return {
    check: {
      name,
      status: 'fail',
      detail: found.problem,
      fix: r?.fix ?? ['apt-get install -y docker-compose-plugin', note],
    },
    ...(r ? { install: r.install } : {}),
  };
}

function judgeBuildx(f: ReadinessFacts): Judged {
  const name = 'buildx';
  if (f.probe.buildx === 'yes') return { check: { name, status: 'ok', detail: 'docker buildx present' } };
  return {
    check: {
      name,
      status: 'warn',
      detail: 'docker buildx is absent: needed only to build images on the host (deploys build on the runner)',
      fix: ['apt-get install -y docker-buildx-plugin'],
    },
  };
}

function judgeDisk(f: ReadinessFacts, minFreeMb: number): Judged {
  const name = 'disk';
  const mb = (kb: string | undefined) => (kb && /^\d+$/.test(kb) ? Math.floor(Number(kb) / 1024) : undefined);
  const places: [string, number | undefined][] = [
    ['the stack directory', mb(f.pre.free_kb)],
    ["Docker's data root", mb(f.pre.docker_free_kb)],
  ];
  const known = places.filter((p): p is [string, number] => p[1] !== undefined);
  if (!known.length) return { check: { name, status: 'warn', detail: 'could not measure the free space' } };
  const low = known.filter(([, v]) => v < minFreeMb);
  const text = known.map(([w, v]) => `${v} MiB free on ${w}`).join(', ');
  if (low.length)
    return {
      check: {
        name,
        status: 'fail',
        detail:
          `${text}; at least ${minFreeMb} MiB is required (deployment.min_free_mb): free space ` +
          '(docker image prune, togather-deploy cleanup) or grow the disk',
      },
    };
  return { check: { name, status: 'ok', detail: `${text} (at least ${minFreeMb} MiB required)` } };
}

/** a /proc/net/tcp{,6} local address (little-endian hex words) as text: '*' for any, dotted for IPv4 (mapped too) */
export function procAddress(hex: string): string {
  if (/^0+$/.test(hex)) return '*';
  const bytes = (w: string) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16));
  if (hex.length === 8) return bytes(hex).join('.');
  const b = [0, 8, 16, 24].flatMap((i) => bytes(hex.slice(i, i + 8)));
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255) return b.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

/** the listening sockets SETUP_PROBE found, as { address, port } */
export function listeners(listen: string | undefined): { address: string; port: number }[] {
  return (listen ?? '')
    .split(/\s+/)
    .map((s) => /^([0-9A-Fa-f]+):([0-9A-Fa-f]{4})$/.exec(s))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ address: procAddress(m[1]!), port: parseInt(m[2]!, 16) }));
}

/** whether a socket on `address` stands in the way of binding `bind`: unless both are distinct IPv4 addresses */
function overlaps(address: string, bind: string): boolean {
  const b = bind === '0.0.0.0' || bind === '::' ? '*' : bind;
  if (address === '*' || b === '*') return true;
  const v4 = (a: string) => /^\d+\.\d+\.\d+\.\d+$/.test(a);
  if (v4(address) && v4(b)) return address === b;
  return v4(address) === v4(b);
}

/** the running containers publishing host port `port`, from `docker ps`'s "name ports" lines */
export function publishers(containers: string[], port: number): string[] {
  return containers
    .filter((line) => {
      for (const m of line.matchAll(/:(\d+)(?:-(\d+))?->/g)) {
        const lo = Number(m[1]);
        const hi = m[2] ? Number(m[2]) : lo;
        if (port >= lo && port <= hi) return true;
      }
      return false;
    })
    .map((line) => line.split(' ')[0]!);
}

function judgePort(f: ReadinessFacts, input: ReadinessInput, which: string, port: number): Judged {
  const name = `port ${port} (${which})`;
  const own = input.layout.caddy;
  const by = [...new Set(publishers(f.containers, port))];
  const others = by.filter((c) => c !== own);
  const see = [quoteArgv(['ss', '-ltnp', `sport = :${port}`]) + '   # shows which process holds it'];
  if (others.length)
    return {
      check: {
        name,
        status: 'fail',
        detail: `published by another container (${others.join(', ')}): set proxy.${which}_port, or stop it`,
        fix: [quoteArgv(['docker', 'ps', '--filter', `publish=${port}`])],
      },
    };
  if (by.includes(own)) return { check: { name, status: 'ok', detail: `held by this environment's Caddy (${own})` } };
  if (f.probe.proc_net !== 'yes')
    return { check: { name, status: 'warn', detail: 'could not read /proc/net/tcp to see whether it is free' } };
  const held = listeners(f.probe.listen).some((l) => l.port === port && overlaps(l.address, input.proxy.bind));
  if (!held) return { check: { name, status: 'ok', detail: `free on ${input.proxy.bind}` } };
  if (!f.pre.docker && f.probe.docker_err !== 'missing')
    return {
      check: {
        name,
        status: 'warn',
        detail: 'something listens on it; who cannot be told while docker does not answer (it may be this environment)',
        fix: see,
      },
    };
  return {
    check: {
      name,
      status: 'fail',
      detail: `another process listens on it: stop it, or set proxy.${which}_port for this environment`,
      fix: see,
    },
  };
}

function judgeClock(f: ReadinessFacts, localNowMs: number): Judged {
  const name = 'clock';
  const hostS = Number(f.probe.now);
  if (!f.probe.now || !Number.isFinite(hostS))
    return { check: { name, status: 'warn', detail: "could not read the host's clock" } };
  const skew = Math.round(hostS - localNowMs / 1000);
  const abs = Math.abs(skew);
  const text = `the host's clock is ${abs} s ${skew >= 0 ? 'ahead of' : 'behind'} this machine's`;
  if (abs <= SKEW_WARN_S) return { check: { name, status: 'ok', detail: `${text} (within ${SKEW_WARN_S} s)` } };
  const r = rootFix([['timedatectl', 'set-ntp', 'true']]);
  if (abs <= SKEW_FAIL_S)
    return { check: { name, status: 'warn', detail: `${text}: keep it in sync with NTP`, fix: r.fix } };
  return {
    check: {
      name,
      status: 'fail',
      detail: `${text}: TLS certificates and tokens break beyond ${SKEW_FAIL_S} s`,
      fix: r.fix,
    },
    ...r,
  };
}

function judgeLogRotation(f: ReadinessFacts): Judged {
  const name = 'log rotation';
  const driver = f.probe.log_driver ?? '';
  if (!driver)
    return { check: { name, status: 'warn', detail: "Docker's logging driver is unknown until docker answers" } };
  if (driver === 'local')
    return { check: { name, status: 'ok', detail: 'the local logging driver rotates by itself' } };
  if (driver !== 'json-file')
    return { check: { name, status: 'ok', detail: `logs go to ${driver}, which rotates them` } };
  let maxSize: unknown;
  const state = f.probe.daemon_json ?? 'absent';
  if (state === 'read') {
    try {
      const json = JSON.parse(Buffer.from(f.probe.daemon_json_b64 ?? '', 'base64').toString()) as {
        'log-opts'?: Record<string, unknown>;
      };
      maxSize = json['log-opts']?.['max-size'];
    } catch {
      return {
        check: {
          name,
          status: 'warn',
          detail: '/etc/docker/daemon.json is not valid JSON',
          fix: ['dockerd --validate'],
        },
      };
    }
  }
  if (typeof maxSize === 'string' && maxSize)
    return { check: { name, status: 'ok', detail: `json-file, max-size ${maxSize} (/etc/docker/daemon.json)` } };
  const later = 'containers created before keep unbounded logs until they are recreated';
  const restart = `systemctl restart docker   ${RESTART_NOTE}`;
  if (state === 'absent')
    return {
      check: {
        name,
        status: 'warn',
        detail: `json-file logs without max-size grow until the disk is full; ${later}`,
        fix: ['mkdir -p /etc/docker', `printf '%s\\n' '${LOG_OPTS}' > /etc/docker/daemon.json`, restart],
      },
    };
  return {
    check: {
      name,
      status: 'warn',
      detail:
        (state === 'unreadable'
          ? '/etc/docker/daemon.json is not readable by the deploy user, so max-size cannot be confirmed'
          : '/etc/docker/daemon.json sets no log-opts max-size: json-file logs grow until the disk is full') +
        `; ${later}`,
      fix: [`# merge into the existing /etc/docker/daemon.json, keeping its other settings: ${LOG_OPTS}`, restart],
    },
  };
}

function judgeStackDir(f: ReadinessFacts, input: ReadinessInput, user: string): Judged {
  const name = 'stack directory';
  const root = input.layout.root;
  const home = f.probe.home;
  const abs = root.startsWith('/') ? root : home ? `${home}/${root}` : `~${user}/${root}`;
  const group = f.probe.group || user;
  const state = f.probe.stack_dir;
  if (state === 'present')
    return {
      check: {
        name,
        status: input.created ? 'created' : 'ok',
        detail: `${abs}${input.created ? ' created (mode 0700)' : ''}`,
      },
    };
  if (state === 'notdir')
    return { check: { name, status: 'fail', detail: `${abs} exists but is not a directory: move it out of the way` } };
  if (state === 'readonly') {
    const r = home || root.startsWith('/') ? rootFix([['chown', `${user}:${group}`, abs]]) : undefined;
    return {
      check: { name, status: 'fail', detail: `${abs} is not writable by ${user}`, ...(r ? { fix: r.fix } : {}) },
      ...(r ? { install: r.install } : {}),
    };
  }
  if (input.dryRun)
    return { check: { name, status: 'warn', detail: `${abs} is absent; setup creates it (not in a dry run)` } };
  const r =
    home || root.startsWith('/') ? rootFix([['install', '-d', '-m', '700', '-o', user, '-g', group, abs]]) : undefined;
  return {
    check: {
      name,
      status: 'fail',
      detail: `${abs} is absent and ${user} cannot create it`,
      ...(r ? { fix: r.fix } : {}),
    },
    ...(r ? { install: r.install } : {}),
  };
}

/** only when it could be learned (`sudo -n sshd -T` under --install): the deploy never needs passwords */
function judgeSshd(f: ReadinessFacts): Judged | undefined {
  const v = f.probe.sshd_password;
  if (!v) return undefined;
  const name = 'sshd';
  if (v === 'no') return { check: { name, status: 'ok', detail: 'password logins are off' } };
  return {
    check: {
      name,
      status: 'warn',
      detail: 'password logins are on (PasswordAuthentication yes); the deploy uses keys only',
      fix: [
        "# a drop-in read first (cloud images ship 50-cloud-init.conf, and sshd's first value wins)",
        "printf '%s\\n' 'PasswordAuthentication no' 'PermitRootLogin prohibit-password' > /etc/ssh/sshd_config.d/00-togather.conf",
        'sshd -t && systemctl reload ssh',
      ],
    },
  };
}
