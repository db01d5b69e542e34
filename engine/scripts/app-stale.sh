# app-stale.sh: a role's running containers but those of the newest's
# version (a role with instances runs several of it), and stops them.
#
# $1 "1" to stop them, "0" to list only; then the role's docker ps filters.
# Output: a line per container ("NAME", or "NAME stopped").
# Exit: 0, or docker stop's failure.
stop=$1
shift
docker ps --filter status=running "$@" --format '{{.Label "version"}} {{.Names}}' |
	awk 'NR == 1 { v = $1 } $1 != v { print $2 }' |
	while IFS= read -r c; do
		if [ "$stop" = 1 ]; then
			docker stop "$c" >/dev/null && echo "$c stopped" || exit
		else
			echo "$c"
		fi
	done
