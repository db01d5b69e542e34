# state-journal-append.sh: appends to an app's release journal on a host.
#
# $1 the app directory (relative to $HOME unless absolute), $2 how many
# lines the journal may grow to, $3 how many it keeps when it grew past
# that; stdin the lines. Exit: 0; 3 could not write.
umask 077
case $1 in /*) d=$1 ;; *) d=${HOME:?}/$1 ;; esac
mkdir -p "$d" && cat >>"$d/releases.jsonl" || exit 3
n=$(wc -l <"$d/releases.jsonl")
if [ "$n" -gt "$2" ]; then
	tail -n "$3" "$d/releases.jsonl" >"$d/releases.jsonl.tmp" &&
		mv -f "$d/releases.jsonl.tmp" "$d/releases.jsonl"
fi
exit 0
