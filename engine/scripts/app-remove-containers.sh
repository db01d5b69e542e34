# app-remove-containers.sh: stops and removes a role's containers.
#
# The role's docker ps filters as arguments.
# Output: docker rm's (the IDs removed). Exit: 0, or docker's failure.
ids=$(docker ps --all --quiet "$@") || exit
[ -z "$ids" ] && exit 0
docker stop $ids >/dev/null
docker rm $ids
