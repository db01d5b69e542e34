# state-audit-read.sh: the last lines of an app's audit log on a host.
#
# $1 the app directory (relative to $HOME unless absolute), $2 how many lines.
# Output: the lines (none when there is no log). Exit: 0, or tail's.
umask 077
case $1 in /*) d=$1 ;; *) d=${HOME:?}/$1 ;; esac
[ -f "$d/audit.log" ] || exit 0
tail -n "$2" "$d/audit.log"
