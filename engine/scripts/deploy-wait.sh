# deploy-wait.sh: waits for a booted container to be ready (no proxy).
#
# $1 container, $2 readiness delay, $3 timeout (seconds): waits for the
# Docker health check when the image or options define one, else for the
# delay, then checks the container still runs and never restarted.
# Output: "healthy" or "running". Exit: 0 ready; 4 not (why on stderr);
# 1 docker inspect failed.
name=$1 delay=$2 timeout=$3
hc=$(docker inspect -f '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "$name") || exit 1
if [ -n "$hc" ] && [ "$hc" != "[NONE]" ]; then
  i=0
  while :; do
    s=$(docker inspect -f '{{.State.Health.Status}}' "$name") || exit 1
    case $s in
    healthy) echo healthy; exit 0 ;;
    unhealthy) echo "the Docker health check says unhealthy" >&2; exit 4 ;;
    esac
    i=$((i + 1))
    if [ $i -gt $((timeout * 4)) ]; then
      echo "the Docker health check says '$s' after ${timeout}s" >&2
      exit 4
    fi
    sleep 0.25
  done
fi
sleep "$delay"
r=$(docker inspect -f '{{.State.Running}} {{.RestartCount}}' "$name") || exit 1
if [ "$r" != "true 0" ]; then
  echo "the container is not running steadily after ${delay}s (running, restarts: $r)" >&2
  exit 4
fi
echo running
