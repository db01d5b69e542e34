# app-remove-images.sh: removes every image of an app's repository.
#
# $1 the image repository.
# Output: docker rmi's. Exit: 0, or docker's failure.
ids=$(docker image ls --quiet -- "$1" | sort -u) || exit
[ -z "$ids" ] && exit 0
docker rmi --force $ids
