# state-journal-read.sh: an app's release journal on a host.
#
# $1 the app directory (relative to $HOME unless absolute), $2 the most lines.
# Output: its last $2 lines (none when there is no journal). Exit: 0, or tail's.
umask 077
case $1 in /*) d=$1 ;; *) d=${HOME:?}/$1 ;; esac
[ -f "$d/releases.jsonl" ] || exit 0
tail -n "$2" "$d/releases.jsonl"
