# accessory-run.sh: starts an accessory's container on a host and waits
# until it is up.
#
# $1 the network, $2 the seconds to wait, then the docker run command (its
# words). The network is made first when it is missing (another berth may
# make it at the same moment: then it is there). Paths are relative to the
# ssh user's home.
#
# Up: running, and healthy when it has a health check (the image's
# HEALTHCHECK, or --health-cmd in its options); a container without one is
# up once it runs. It is left as it is when it is not up: stopped, unhealthy
# or still starting after $2 seconds; then stderr has the container's last
# log lines and the health check's last answer, and last says which.
# Output: "ID healthy" or "ID running". Exit: 0; 1 when it is not up;
# docker's failure when it cannot start.
cd || exit 1
net=$1
wait=$2
shift 2
if ! docker network inspect "$net" >/dev/null 2>&1; then
  docker network create "$net" >/dev/null 2>&1 || docker network inspect "$net" >/dev/null || exit
fi
id=$("$@") || exit
id=$(printf '%s\n' "$id" | tail -n 1)
tries=$((wait * 5))
why=
while :; do
  st=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id") || exit
  case $st in
  'running healthy') echo "$id healthy" && exit 0 ;;
  'running none') echo "$id running" && exit 0 ;;
  'running unhealthy') why='its health check fails' ;;
  running* | created*) ;;
  *) why="it is ${st% *} (exit code $(docker inspect -f '{{.State.ExitCode}}' "$id"))" ;;
  esac
  if [ -z "$why" ]; then
    tries=$((tries - 1))
    if [ "$tries" -gt 0 ]; then
      sleep 0.2
      continue
    fi
    why="it is not healthy after ${wait}s (${st#* })"
  fi
  break
done
# berth shows the last 5 lines of stderr: the log's last 3, the health
# check's last answer, then why.
docker logs --tail 3 "$id" 2>&1 | sed 's/^/  log: /' >&2
h=$(docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.ExitCode}}: {{.Output}}{{"\n"}}{{end}}{{end}}' "$id" 2>/dev/null | grep -v '^$' | tail -n 1)
if [ -n "$h" ]; then
  echo "  health check (exit code: output): $h" >&2
fi
echo "the container $(printf %.12s "$id") is not up: $why" >&2
exit 1
