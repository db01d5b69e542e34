# proxy-logs.sh: berth-proxy's log lines.
#
# $1 container, $2 a grep pattern or "", $3 "follow" or ""; the rest is the
# `docker logs` argv. Output: the log's own stdout and stderr, both on
# stdout. Exit: 0, or docker's failure.
#
# Following, nothing else tells the remote side that berth went away (no
# terminal, so no SIGHUP; and a multiplexed connection outlives berth), and
# `docker logs --follow` would run there for good. So berth keeps the
# command's stdin open while it lives, and the script ends the follower
# when stdin ends. (Background jobs get /dev/null as stdin: fd 3 keeps
# the real one.) The grep pattern is applied here when following.
name=$1 g=$2 f=$3; shift 3
docker container inspect "$name" >/dev/null || exit 1
if [ -z "$f" ]; then
  [ -n "$g" ] || exec "$@" 2>&1
  "$@" 2>&1 | grep -e "$g"
  [ $? -le 1 ]; exit
fi
exec 3<&0
"$@" 2>&1 &
p=$!
{ while read -r _ <&3; do :; done; kill $p 2>/dev/null; } &
w=$!
wait $p; r=$?
kill $w 2>/dev/null
exit $r
