# registry-setup.sh: runs the local registry container on a host.
#
# $1 container, $2 image, $3 port. Output: "running", "started", "created",
# or "port P" when the container there listens elsewhere. Exit: 0; 3 the
# port differs; 1 docker failed.
name=$1 image=$2 port=$3
if state=$(docker container inspect --format '{{.State.Running}} {{index .Config.Labels "berth.registry"}}' "$name" 2>/dev/null); then
  set -- $state
  if [ "${2:-}" != "$port" ]; then echo "port ${2:-unknown}"; exit 3; fi
  if [ "$1" = true ]; then echo running; exit 0; fi
  docker container start "$name" >/dev/null || exit 1
  echo started; exit 0
fi
docker run --detach --restart unless-stopped -p "127.0.0.1:$port:5000" --name "$name" --label "berth.registry=$port" "$image" >/dev/null || exit 1
echo created
