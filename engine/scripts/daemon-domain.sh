# daemon-domain.sh: sets berthd's global domain, which routes the panel
# (https://berth.DOMAIN/ and captain.DOMAIN, through berth-proxy), and while
# the panel has no admin yet makes a new one-time set-up link;
# `berth server bootstrap --daemon --root-domain DOMAIN`.
#
#   sh -c SCRIPT berth-daemon CONTAINER DOMAIN
#
# Output: "panel: https://berth.DOMAIN/setup?token=..." (the first admin's
# set-up link, valid for an hour, once), or "panel: https://berth.DOMAIN/
# (set up already)". Exit: 0, or 1 (berthd's words on stderr).
set -u
c=$1
d=$2
docker exec "$c" berthd --quiet domains:set-global "$d" >/dev/null || exit 1
if out=$(docker exec "$c" berthd --quiet panel:setup-link 2>&1); then
  echo "panel: $(printf '%s\n' "$out" | tail -n 1)"
  exit 0
fi
case $out in
*"exists already"*)
  echo "panel: https://berth.$d/ (set up already)"
  exit 0
  ;;
esac
printf '%s\n' "$out" >&2
exit 1
