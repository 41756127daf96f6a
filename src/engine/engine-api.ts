import type { Command } from '../host/host.js';

/*
 * The Docker engine's own API over its unix socket, read with curl: a read that way costs the host a few
 * milliseconds, where each docker CLI start-up costs 0.05–0.15 s of a core (a busy 2-CPU host pays that several
 * times in an operation's first round trip). Every script that uses ENGINE_API falls back to the docker CLI when
 * the API cannot be asked as the CLI would be: no curl, DOCKER_HOST not a unix socket, or a docker context in
 * use (the CLI could then be talking to another engine than the socket we would ask).
 */

/**
 * `api PATH [CURL OPTION…]` prints the engine's answer to PATH (GET unless the options say otherwise, e.g.
 * `-X POST`), or fails (the caller then asks the docker CLI). A shell function, defined at the top of a script;
 * the PATH it is given is built by the engine, its values URL-encoded. A later `--max-time` overrides the 10 s.
 */
export const ENGINE_API = `
api() {
  p=$1; shift
  s=\${DOCKER_HOST:-unix:///var/run/docker.sock}
  case "$s" in unix://*) s=\${s#unix://};; *) return 1;; esac
  [ -z "\${DOCKER_CONTEXT:-}" ] && [ -S "$s" ] && command -v curl >/dev/null 2>&1 || return 1
  ! grep -qs '"currentContext"' "\${DOCKER_CONFIG:-$HOME/.docker}/config.json" || return 1
  curl -sf --max-time 10 --unix-socket "$s" "$@" "http://docker$p"
}`;

/**
 * `api_exec CONTAINER BODY SECONDS` runs a command in a container through the API (an exec made from BODY, the
 * engine's exec-create JSON with Tty set, so the answer is the command's output as it is, not multiplexed) and
 * prints its output without the terminal's carriage returns. Exit 1 when the command did not run (the API cannot
 * be asked, or the engine refused the exec): the caller may then use `docker exec`. Exit 2 when it ran but its
 * output was cut (curl's time limit, a dropped connection): what arrived is printed, and running it again
 * another way would only run it twice. Needs ENGINE_API.
 */
export const ENGINE_EXEC = `
api_exec() {
  e=$(api "/containers/$1/exec" -X POST -H 'Content-Type: application/json' --data-binary "$2" 2>/dev/null) || return 1
  e=\${e#*'"Id":"'}; e=\${e%%'"'*}
  case "$e" in ''|*[!0-9a-f]*) return 1;; esac
  o=$(api "/exec/$e/start" -X POST -H 'Content-Type: application/json' -d '{"Detach":false,"Tty":true}' --max-time "$3" 2>/dev/null)
  c=$?
  [ "$c" -ne 22 ] || return 1
  printf '%s\n' "$o" | tr -d '\r'
  [ "$c" -eq 0 ] || return 2
}`;

/** the engine's exec-create body for `api_exec`: the command run with a terminal, its output attached */
export function execBody(command: Command): string {
  return JSON.stringify({ AttachStdout: true, AttachStderr: true, Tty: true, Cmd: command.argv });
}

/** a query string's filters argument, as the engine's list endpoints take it */
export function engineFilters(filters: Record<string, string[]>): string {
  return encodeURIComponent(JSON.stringify(filters));
}

/** a JSON answer of the engine printed as `engine=<json>` by a script; undefined when the script used the CLI */
export function engineAnswer<T>(out: string): T | undefined {
  const line = out.split('\n').find((l) => l.startsWith('engine='));
  if (!line) return undefined;
  try {
    return JSON.parse(line.slice('engine='.length)) as T;
  } catch {
    return undefined;
  }
}
