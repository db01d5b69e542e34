# state-remove.sh: removes an app's deploy lock on a host.
#
# $1 the app directory (relative to $HOME unless absolute), $2 the id the
# lock must have, or empty for any, $3 the most bytes of holder.json to print.
# Output: the lock's status as state-status.sh prints it, from before.
# Exit: 0 removed; 5 no lock; 6 the lock has another id; 3 could not remove.
umask 077
case $1 in /*) d=$1 ;; *) d=${HOME:?}/$1 ;; esac
echo "now $(date +%s)"
if [ -d "$d/lock" ]; then
	echo "mtime $(stat -c %Y "$d/lock" 2>/dev/null)"
	echo holder
	head -c "$3" "$d/lock/holder.json" 2>/dev/null
fi
[ -d "$d/lock" ] || exit 5
if [ -n "$2" ] && ! grep -qF "\"id\":\"$2\"" "$d/lock/holder.json" 2>/dev/null; then
	exit 6
fi
b="$d/lock.broken.$$"
mv "$d/lock" "$b" || exit 3
rm -rf "$b"
