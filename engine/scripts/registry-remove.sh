# registry-remove.sh: removes the local registry container from a host.
#
# $1 container. Output: "removed" or "absent". Exit: 0, or 1 when docker failed.
if docker container inspect "$1" >/dev/null 2>&1; then
  docker container stop "$1" >/dev/null && docker container rm "$1" >/dev/null || exit 1
  echo removed
else echo absent; fi
