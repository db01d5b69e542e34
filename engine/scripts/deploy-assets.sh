# deploy-assets.sh: asset_path's files bridged between the version a role
# runs and the one that boots (Kamal's asset bridging), on the host itself:
# docker cp writes to the host's files.
#
# $1 what, $2 the role's asset directory DIR (relative to the ssh user's
# home, or absolute), then:
#
# prepare VERSION PATH IMAGE FROM TEMP FILTERS...
#   Copies the files under PATH of IMAGE (a container TEMP of it is created,
#   never started: docker cp -L) to DIR/extracted/VERSION, made anew; FROM,
#   when not empty, is the container a rollback starts again: its own image
#   is the one copied when it exists. DIR/volumes/VERSION, what the
#   container of VERSION mounts at PATH, gets those files (made anew unless
#   a running container has it), then the files of every other version a
#   container of the role (FILTERS, docker ps's) runs now; and their volumes
#   get the new files, so that the containers still serving find them. No
#   file is overwritten. Output: "files N", "shared V" for each version
#   running ("note: ..." for one whose files cannot be had), then
#   "volume ABSOLUTE-PATH".
# clean KEEP MINAGE VERSION FILTERS...
#   Removes the extracted files and the volumes of the versions that no
#   container of the role runs (KEEP "running"), or has (KEEP "all"), but
#   VERSION; with MINAGE above 0, only those unchanged for MINAGE minutes (a
#   deploy may be making one). Output: "removed V" for each version.
#
# Exit: 0, or 1 with the reason on stderr.
set -u
what=$1 dir=$2
shift 2
cd || exit 1
if [ "$what" = clean ] && [ ! -d "$dir" ]; then
	exit 0
fi
# the app's directory stays private, as the rest of its state; what a container mounts is
# readable by its user (a bind mount does not look at the host's directories above it)
(umask 077 && mkdir -p "$dir") && dir=$(cd "$dir" && pwd -P) || exit 1
if [ "$dir" = / ]; then
	echo "refusing the asset directory /" >&2
	exit 1
fi
umask 022
mkdir -p "$dir/extracted" "$dir/volumes" || exit 1

# merge SRC DST: SRC's files that DST lacks copied into it, none overwritten.
merge() {
	mkdir -p "$2" || return 1
	out=$(cp -Rn "$1/." "$2/" 2>&1) && return 0
	# coreutils 9.2 fails when it skipped a file: only that is no error
	printf '%s\n' "$out" | grep -v -e 'not replacing' -e 'warning:' >&2 && return 1
	return 0
}

# copy_out CONTAINER PATH DEST: the container's files under PATH into DEST, made anew.
copy_out() {
	tmp=${3%/*}/.${3##*/}.$$
	rm -rf "$tmp" && mkdir "$tmp" || return 1
	if ! out=$(docker container cp -L "$1:$2/." "$tmp" 2>&1); then
		printf '%s\n' "$out" >&2
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$3" && mv "$tmp" "$3"
}

prepare() {
	version=$1 path=$2 image=$3 from=$4 temp=$5
	shift 5
	ext=$dir/extracted/$version vol=$dir/volumes/$version
	if [ -n "$from" ] && id=$(docker container inspect --format '{{.Image}}' "$from" 2>/dev/null); then
		image=$id
	fi
	docker container rm -f "$temp" >/dev/null 2>&1
	# the command is never run: an image with neither entrypoint nor command can be created too
	if ! out=$(docker container create --name "$temp" "$image" berth-assets 2>&1); then
		printf '%s\n' "$out" >&2
		exit 1
	fi
	copy_out "$temp" "$path" "$ext"
	rc=$?
	docker container rm -f "$temp" >/dev/null 2>&1
	if [ $rc -ne 0 ]; then
		echo "cannot copy $path out of $image" >&2
		exit 1
	fi
	running=$(docker ps "$@" --format '{{.Label "version"}}' | sort -u) || exit 1
	if ! printf '%s\n' "$running" | grep -qxF "$version"; then
		rm -rf "$vol" || exit 1
	fi
	merge "$ext" "$vol" || exit 1
	echo "files $(find "$ext" ! -type d | wc -l)"
	for v in $running; do
		case $v in
		"$version" | .* | -* | *[!A-Za-z0-9_.-]*) continue ;;
		esac
		old=$dir/extracted/$v
		if [ ! -d "$old" ]; then
			# a version deployed before asset_path was set, or whose files went: its container's
			c=$(docker ps "$@" --filter "label=version=$v" --format '{{.Names}}' | head -n 1)
			if [ -z "$c" ] || ! copy_out "$c" "$path" "$old"; then
				echo "note: the files of $v under $path are not shared"
				continue
			fi
		fi
		merge "$old" "$vol" || exit 1
		if [ -d "$dir/volumes/$v" ]; then
			merge "$ext" "$dir/volumes/$v" || exit 1
		fi
		echo "shared $v"
	done
	echo "volume $vol"
}

clean() {
	keep=$1 minage=$2 version=$3
	shift 3
	if [ "$keep" = all ]; then
		vs=$(docker ps -a "$@" --format '{{.Label "version"}}') || exit 1
	else
		vs=$(docker ps "$@" --format '{{.Label "version"}}') || exit 1
	fi
	gone=
	for p in "$dir"/extracted/* "$dir"/extracted/.[!.]* "$dir"/volumes/* "$dir"/volumes/.[!.]*; do
		[ -e "$p" ] || continue
		v=${p##*/}
		if [ "$v" = "$version" ] || printf '%s\n' "$vs" | grep -qxF "$v"; then
			continue
		fi
		if [ "$minage" -gt 0 ] && [ -n "$(find "$p" -maxdepth 0 -mmin -"$minage")" ]; then
			continue
		fi
		rm -rf "$p" || exit 1
		case $v in .*) ;; *) gone="$gone $v" ;; esac
	done
	for v in $gone; do echo "$v"; done | sort -u | sed 's/^/removed /'
}

case $what in
prepare) prepare "$@" ;;
clean) clean "$@" ;;
*)
	echo "unknown: $what" >&2
	exit 1
	;;
esac
