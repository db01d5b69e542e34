# deploy-preflight.sh: what a deploy's capacity check asks Docker on a host.
#
# $1 the proxy's volume; then the app's docker ps filters (its running
# containers, every role).
# Output: a path on Docker's data root on the first line (the proxy volume's
# mount point, which Docker answers faster than `docker info`; the data root
# itself where there is no such volume); then a line per running container
# of the app: "PID ROLE MEMORY_LIMIT" (limit in bytes, 0: none).
# Exit: 0, or docker's failure.
vol=$1
shift
docker volume inspect --format '{{.Mountpoint}}' "$vol" 2>/dev/null ||
	docker info --format '{{.DockerRootDir}}' || exit
ids=$(docker ps --quiet --filter status=running "$@") || exit
[ -n "$ids" ] || exit 0
# shellcheck disable=SC2086 # one ID a word
docker inspect --format '{{.State.Pid}} {{index .Config.Labels "role"}} {{.HostConfig.Memory}}' $ids
