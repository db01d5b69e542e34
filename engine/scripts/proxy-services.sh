# proxy-services.sh: what berth-proxy on a host serves.
#
# $1 the proxy container, $2 its saved routes' path in the container.
# Output: its routes as JSON (nothing: no proxy). Exit: 0, or docker exec's.
name=$1 state=$2
running=$(docker container inspect --format '{{.State.Running}}' "$name" 2>/dev/null) ||
  exit 0
if [ "$running" = true ]; then exec docker exec "$name" berth-proxy list --json; fi
docker cp "$name:$state" - 2>/dev/null | tar -xO 2>/dev/null
exit 0
