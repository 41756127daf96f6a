import { script, type Command } from '../host/host.js';

/**
 * Remote file operations as fixed scripts; paths and modes arrive as positional parameters. Content always
 * travels on stdin, so no secret is ever part of a command line (visible in `ps` on the host).
 */

/** write stdin to $1 atomically (temp file in the same directory, then rename), with mode $2 */
export function writeFileCmd(path: string, mode: '600' | '644'): Command {
  return script(
    'set -e; umask 077; d=$(dirname -- "$1"); mkdir -p -- "$d"; t="$1.tmp.$$"; cat > "$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"',
    path,
    mode,
  );
}

export function appendFileCmd(path: string): Command {
  return script('set -e; umask 077; mkdir -p -- "$(dirname -- "$1")"; cat >> "$1"', path);
}

/** prints the file, or nothing with exit 3 when it does not exist (distinguishable from a failure) */
export function readFileCmd(path: string): Command {
  return script('if [ -f "$1" ]; then cat -- "$1"; else exit 3; fi', path);
}

export function mkdirsCmd(...paths: string[]): Command {
  return script('set -e; umask 077; for p in "$@"; do mkdir -p -- "$p"; done', ...paths);
}
