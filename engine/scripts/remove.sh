# remove.sh: removes an app from a host (`berth remove`).
#
# $1 the app's state directory, $2 the image repository, $3 n, then n
# proxy services, then the docker ps filters of the app: its routes leave
# berth-proxy, its containers and images go, then its state directory.
# berth-proxy itself stays: other apps may use it (`berth proxy remove`).
# Output: what went. Exit: 0, or 1 when docker rm or rmi failed.
appdir=$1 repo=$2 n=$3
shift 3
i=0
while [ $i -lt $n ]; do
  docker exec berth-proxy berth-proxy remove "$1" >/dev/null 2>&1 &&
    echo "route $1 removed"
  shift
  i=$((i + 1))
done
ids=$(docker ps -aq "$@")
if [ -n "$ids" ]; then docker rm -f $ids >/dev/null || exit 1; fi
echo "$(echo $ids | wc -w) container(s) removed"
imgs=$(docker images -q "$repo" | sort -u)
if [ -n "$imgs" ]; then docker rmi -f $imgs >/dev/null || exit 1; fi
echo "$(echo $imgs | wc -w) image(s) removed"
cd && rm -rf "$appdir"
