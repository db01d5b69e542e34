# prune-volumes.sh: a host's dangling anonymous volumes.
#
#   prune-volumes.sh list          one per line: NAME SIZE (du's, or ?)
#   prune-volumes.sh remove NAME...  docker volume rm of each that is still
#                                  dangling and anonymous
#
# Dangling: no container, running or stopped, refers to it. Anonymous: the
# 64 hex digits docker names a volume it made itself (a VOLUME of an image,
# a -v with no name); a named volume is never touched, whatever its state,
# since an accessory's data may be in one while it is removed.
# Exit: 0, or the first failing docker command's.
set -u
op=$1
shift
dangling() {
  docker volume ls -q --filter dangling=true | grep -xE '[0-9a-f]{64}'
}
case $op in
list)
  vols=$(dangling) || exit 0
  for v in $vols; do
    mp=$(docker volume inspect --format '{{.Mountpoint}}' "$v" 2>/dev/null)
    size=$(du -sh "$mp" 2>/dev/null | cut -f1)
    echo "$v ${size:-?}"
  done
  ;;
remove)
  now=$(dangling) || now=
  for v in "$@"; do
    if printf '%s\n' "$now" | grep -qxF -e "$v"; then
      docker volume rm "$v" >/dev/null || exit
      echo "removed $v"
    fi
  done
  ;;
esac
