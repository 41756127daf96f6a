#!/bin/sh
# The stack's keeper: runs each time its container starts, i.e. after a Docker daemon restart or a host reboot.
#
# Why: each colour's app joins its gate's network namespace. When the daemon comes back it starts every
# container with a restart policy at once, in no particular order; an app that goes before its gate fails with
# "cannot join network of a non running container", and Docker never retries a start that failed that way.
# For a while after its own start, the keeper starts again the app of each ROUTED colour (its flag file is on)
# that failed exactly like that. A colour that is not routed, or an app stopped for any other reason, is left
# alone: the keeper never fights the deployer.
#
# usage: keeper.sh STACK [WINDOW_SECONDS]   (gates/ of the environment mounted at /gates, the Docker socket at
# its default path)
stack=$1
window=${2:-180}
[ -n "$stack" ] || { echo "keeper: no stack name given" >&2; exit 2; }

now() { date +%s; }
end=$(( $(now) + window ))
echo "keeper: watching $stack for ${window}s"
while [ "$(now)" -lt "$end" ]; do
  for c in blue green; do
    [ -f "/gates/$c/ready" ] || continue
    app="$stack-app-$c"
    st=$(docker inspect -f '{{.State.Status}}|{{.State.Error}}' -- "$app" 2>/dev/null) || continue
    case "$st" in
      exited\|*"join network of a non running container"*)
        if docker start -- "$app" >/dev/null 2>&1; then echo "keeper: started $app (it lost the start-up race with its gate)"
        else echo "keeper: $app could not be started yet; retrying" >&2; fi ;;
    esac
  done
  sleep 2
done
echo "keeper: done; idle until the next daemon start"
# sleep in the foreground, where the stop signal reaches it through the init process
while :; do sleep 3600; done
