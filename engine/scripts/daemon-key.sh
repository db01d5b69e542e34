# daemon-key.sh: adds a public key to berthd as an admin key, unless it is
# there already; `berth server bootstrap --daemon --key FILE`.
#
#   sh -c SCRIPT berth-daemon CONTAINER NAME < KEY.pub
#
# The key comes on stdin and goes on stdin to `berthd ssh-keys:add NAME` in
# CONTAINER. A key of that name with the same fingerprint (ssh-keygen's, when
# the host has it) is left alone; another key under the name is an error.
# Output: "key NAME: there (FINGERPRINT)" or "key NAME: added (berthd's
# words)". Exit: 0, or 1 (why on stderr).
set -u
c=$1
name=$2
pub=$(cat)
fp=
if command -v ssh-keygen >/dev/null 2>&1; then
  fp=$(printf '%s\n' "$pub" | ssh-keygen -l -f - 2>/dev/null | cut -d' ' -f2)
fi
have=$(docker exec "$c" berthd ssh-keys:list "$name" 2>/dev/null) || have=
if [ -n "$have" ]; then
  hfp=${have%% *}
  if [ -z "$fp" ] || [ "$fp" = "$hfp" ]; then
    echo "key $name: there ($hfp)"
    exit 0
  fi
  echo "key $name: the name is taken by another key ($hfp); remove it first (docker exec berthd berthd ssh-keys:remove $name)" >&2
  exit 1
fi
out=$(printf '%s\n' "$pub" | docker exec -i "$c" berthd ssh-keys:add "$name") || exit 1
echo "key $name: added ($(printf '%s\n' "$out" | sed 's/^-*> *//' | head -n 1))"
