# accessory-remove.sh: takes an accessory off a host.
#
# $1 its container's name (also its service label), $2 its image ("" to
# keep it), $3 its directory (relative to the ssh user's home; "" to keep
# it). Its containers are stopped and removed; the image is removed when
# no other container uses it (else kept, and said); then the directory.
# Output: one line per thing that went. Exit: 0, or 1 when docker rm,
# docker image rm or rm -rf failed.
cd || exit 1
ids=$(docker ps --all --quiet --filter "label=service=$1") || exit 1
if [ -n "$ids" ]; then
  docker stop $ids >/dev/null 2>&1
  docker rm --force $ids >/dev/null || exit 1
  echo "container $1 removed"
else
  echo "no container $1"
fi
if [ -n "$2" ] && docker image inspect "$2" >/dev/null 2>&1; then
  if [ -n "$(docker ps --all --quiet --filter "ancestor=$2")" ]; then
    echo "image $2 kept: another container uses it"
  elif docker image rm "$2" >/dev/null; then
    echo "image $2 removed"
  else
    exit 1
  fi
fi
if [ -n "$3" ] && [ -e "$3" ]; then
  rm -rf -- "$3" || exit 1
  echo "directory $3 removed"
fi
exit 0
