# transfer-receive.sh: puts one image layer into a host's layer cache.
#
# $1 cache dir, $2 layer hex; stdin the layer, checked against its digest.
# Output: "ok HEX". Exit: 0; 5 the digest does not match; 1 otherwise.
dir=$1 h=$2
mkdir -p -- "$dir" || exit 1
t=$(mktemp "$dir/.in-$h.XXXXXX") || exit 1
trap 'rm -f "$t"' EXIT
cat >"$t" || exit 1
sum=$(sha256sum <"$t") || exit 1
sum=${sum%% *}
if [ "$sum" != "$h" ]; then
  echo "layer sha256:$h arrived damaged (its digest is sha256:$sum)" >&2; exit 5
fi
mv -f -- "$t" "$dir/$h.tar" || exit 1
echo "ok $h"
