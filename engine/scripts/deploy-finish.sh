# deploy-finish.sh: after a switch, stops a role's old containers and prunes.
#
# $1 the new containers, one name a line (a role with instances has several),
# $2 exited containers to keep, $3 stop timeout (seconds), then the docker ps
# filters of the role: stops the role's other running containers and
# removes the oldest exited ones.
# Output: "stopped NAME" and "removed NAME" lines. Exit: 0, or 1 when
# docker stop or rm failed.
name=$1 keep=$2 stop_t=$3
shift 3
old=$(docker ps "$@" --format '{{.Names}}' | grep -vxF "$name")
if [ -n "$old" ]; then
  docker stop -t "$stop_t" $old >/dev/null || exit 1
  for c in $old; do echo "stopped $c"; done
fi
gone=$(docker ps -a "$@" --filter status=exited --filter status=created --format '{{.Names}}' | tail -n +$((keep + 1)))
if [ -n "$gone" ]; then
  docker rm $gone >/dev/null || exit 1
  for c in $gone; do echo "removed $c"; done
fi
exit 0
