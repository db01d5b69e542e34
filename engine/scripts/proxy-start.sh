# proxy-start.sh: starts berth-proxy's containers.
#
# $1 the ports container, $2 the proxy's: the holder first, when the proxy
# takes its sockets. Exit: 0, or docker's failure.
if docker container inspect --format '{{json .Config.Cmd}}' "$2" 2>/dev/null |
  grep -q -e '--listeners-from'; then
  docker container start "$1" >/dev/null || exit 1
fi
exec docker container start "$2" >/dev/null
