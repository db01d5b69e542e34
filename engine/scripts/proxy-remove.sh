# proxy-remove.sh: removes berth-proxy from a host.
#
# $1 container, $2 image, $3 label of our images ("": keep images), $4
# volume ("": keep it), $5 the ports container and $6 the old container of a
# reboot (removed with the proxy's). Exit: 0, or 1 when a docker command failed.
name=$1 image=$2 label=$3 vol=$4 ports=$5 old=$6
if docker container inspect "$name" >/dev/null 2>&1; then
  docker container stop "$name" >/dev/null && docker container rm "$name" >/dev/null || exit 1
  echo 'container removed'
else echo 'container absent'; fi
if docker container inspect "$old" >/dev/null 2>&1; then
  docker container rm -f "$old" >/dev/null || exit 1
fi
if docker container inspect "$ports" >/dev/null 2>&1; then
  docker container rm -f "$ports" >/dev/null || exit 1
  echo 'ports removed'
fi
if [ -n "$label" ]; then
  docker image rm "$image" >/dev/null 2>&1
  docker image prune --all --force --filter "label=$label" >/dev/null || exit 1
  echo 'images removed'
fi
if [ -n "$vol" ] && docker volume inspect "$vol" >/dev/null 2>&1; then
  docker volume rm "$vol" >/dev/null || exit 1
  echo 'volume removed'
fi
