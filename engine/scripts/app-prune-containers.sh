# app-prune-containers.sh: removes a role's old stopped containers.
#
# $1 how many stopped containers to keep, then the role's docker ps filters.
# docker ps lists the newest first: all after the first $1 are removed.
# Output: docker rm's (the IDs removed). Exit: 0, or the pipeline's failure.
keep=$1
shift
docker ps --all --quiet --filter status=created --filter status=exited --filter status=dead "$@" |
	tail -n +$((keep + 1)) | xargs -r docker rm
