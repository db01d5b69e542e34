# transfer-probe.sh: what a host has of an image.
#
# $1 image, $2 image ID, $3 layer cache dir or "", $4 "docker" to ask Docker
# only (the script may run here, against the host's forwarded dockerd: the
# layer cache on the host's disk is then not looked at), then the layer hex
# digests.
# Output: "tagged", "has-id", "layers unknown", or "dir DIR" and a
# "layer HEX" line per cached layer. Exit: 0; 3 a tool is missing; 4 Docker
# did not say where its data root is.
img=$1 id=$2 dir=$3 only=$4; shift 4
command -v docker >/dev/null 2>&1 || { echo 'docker is not installed' >&2; exit 3; }
cur=$(docker image inspect --format '{{.Id}}' -- "$img" 2>/dev/null) || cur=
if [ "$cur" = "$id" ]; then echo tagged; exit 0; fi
if docker image inspect -- "$id" >/dev/null 2>&1; then echo has-id; exit 0; fi
if [ "$only" = docker ]; then echo 'layers unknown'; exit 0; fi
if [ -z "$dir" ]; then
  root=$(docker info --format '{{.DockerRootDir}}') || exit 4
  case $root in /?*) ;; *) echo 'docker did not say where its data root is' >&2; exit 4;; esac
  dir=$(dirname "$root")/berth/layers
fi
echo "dir $dir"
for t in sha256sum tar mktemp; do
  command -v $t >/dev/null 2>&1 || { echo "'$t' is not installed" >&2; exit 3; }
done
for h; do if [ -f "$dir/$h.tar" ]; then echo "layer $h"; fi; done
exit 0
