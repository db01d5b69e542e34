# app-prune-tagged.sh: removes an app's old tagged images.
#
# $1 the image repository, $2 how many tags to keep. Newest first by the
# time the image was made, to the nanosecond (docker image ls sorts by whole
# seconds, and images built one after another share one); a tag that a
# container uses is kept.
# Output: docker rmi's. Exit: 0, or the first failing docker command's.
repo=$1
keep=$2
used=$(docker ps --all --format '{{.Image}}') || exit
docker image ls --format '{{.Repository}}:{{.Tag}}' -- "$repo" | grep -v ':<none>$' |
	while IFS= read -r ref; do
		t=$(docker image inspect --format '{{.Created}}' -- "$ref") || exit
		printf '%s %s\n' "$t" "$ref"
	done |
	awk '{ t = $1; sub(/Z$/, "", t); f = ""; i = index(t, "."); if (i) { f = substr(t, i + 1); t = substr(t, 1, i - 1) } while (length(f) < 9) f = f "0"; print t "." f, $2 }' |
	sort -r | tail -n +$((keep + 1)) |
	while read -r t ref; do
		printf '%s\n' "$used" | grep -qxF -e "$ref" || docker rmi "$ref" || exit
	done
