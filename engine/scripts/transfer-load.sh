# transfer-load.sh: loads an image from a host's layer cache into Docker.
#
# $1 cache dir, then the layer hex digests; stdin a tar of manifest.json and
# config.json. Output: docker load's. Exit: 0; 6 a layer is missing from
# the cache; 7 docker load failed, or the cached layers could not be read;
# 1 otherwise.
#
# tar says 1 when a file changed while it read it: another load touching a
# shared layer; the bytes are the same, and docker load checks them.
dir=$1; shift
mkdir -p -- "$dir" || exit 1
find "$dir" -maxdepth 1 -name '.in-*' -mmin +120 -exec rm -f {} + 2>/dev/null
w=$(mktemp -d "$dir/.load.XXXXXX") || exit 1
trap 'rm -rf "$w"' EXIT
mkdir "$w/img" "$w/img/layers" && tar -xf - -C "$w/img" || exit 1
for h; do
  if [ ! -f "$dir/$h.tar" ]; then
    echo "layer sha256:$h is missing from the cache $dir" >&2; exit 6
  fi
  ln -sf "$dir/$h.tar" "$w/img/layers/$h.tar" && touch "$dir/$h.tar" || exit 1
done
{ tar -chf - -C "$w/img" . 2>"$w/tar.err"; [ $? -le 1 ] || touch "$w/tar-failed"; } |
  docker load -q || exit 7
if [ -e "$w/tar-failed" ]; then echo 'cannot read the cached layers' >&2; exit 7; fi
