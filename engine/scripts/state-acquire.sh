# state-acquire.sh: takes an app's deploy lock on a host.
#
# $1 the app directory (relative to $HOME unless absolute), $2 the most
# bytes of holder.json to print back; stdin the holder's JSON, written to
# lock/holder.json (0600) when the lock is taken (mkdir: of two only one wins).
# Output, when the lock is held: "now N", "mtime M", "holder" and holder.json.
# Exit: 0 taken; 4 held by someone (status printed); 3 could not write.
umask 077
case $1 in /*) d=$1 ;; *) d=${HOME:?}/$1 ;; esac
mkdir -p "$d" || exit 3
if mkdir "$d/lock" 2>/dev/null; then
	if cat >"$d/lock/holder.json.tmp" &&
		mv -f "$d/lock/holder.json.tmp" "$d/lock/holder.json"; then
		exit 0
	fi
	rm -rf "$d/lock"
	exit 3
fi
echo "now $(date +%s)"
if [ -d "$d/lock" ]; then
	echo "mtime $(stat -c %Y "$d/lock" 2>/dev/null)"
	echo holder
	head -c "$2" "$d/lock/holder.json" 2>/dev/null
fi
exit 4
