# proxy-stop.sh: stops berth-proxy's containers.
#
# $1 the ports container, $2 the proxy's: the proxy first, then the ports
# close. Exit: 0, or 1 when docker stop failed.
docker container stop "$2" >/dev/null || exit 1
if docker container inspect "$1" >/dev/null 2>&1; then
  docker container stop "$1" >/dev/null || exit 1
fi
