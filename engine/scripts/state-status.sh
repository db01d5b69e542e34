# state-status.sh: the state of an app's deploy lock on a host.
#
# $1 the app directory (relative to $HOME unless absolute), $2 the most
# bytes of holder.json to print.
# Output: "now N", and while the lock is held "mtime M", "holder" and
# holder.json. Exit: 0.
umask 077
case $1 in /*) d=$1 ;; *) d=${HOME:?}/$1 ;; esac
echo "now $(date +%s)"
if [ -d "$d/lock" ]; then
	echo "mtime $(stat -c %Y "$d/lock" 2>/dev/null)"
	echo holder
	head -c "$2" "$d/lock/holder.json" 2>/dev/null
fi
exit 0
