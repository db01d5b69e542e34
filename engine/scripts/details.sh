# details.sh: berth-proxy's container and an app's, one line each.
#
# $1 the proxy container's name, then the app's docker ps filters.
# Output: "NAME<TAB>IMAGE<TAB>STATUS" lines, the proxy first
# ("NAME<TAB>(not running)" when it does not run). Exit: 0, or docker's failure.
proxy=$1
shift
f='{{.Names}}	{{.Image}}	{{.Status}}'
p=$(docker ps --filter "name=^$proxy\$" --format "$f") || exit
if [ -n "$p" ]; then
	printf '%s\n' "$p"
else
	printf '%s\t(not running)\n' "$proxy"
fi
docker ps "$@" --format "$f"
