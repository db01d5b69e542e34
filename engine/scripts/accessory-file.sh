# accessory-file.sh: writes one of an accessory's files on a host.
#
# $1 the file (relative to the ssh user's home, or absolute), $2 its mode
# (octal), $3 its owner ("user[:group]", "" for none). Stdin: its bytes,
# written to a temporary file beside it (umask 077: nobody else ever reads
# it), given its mode and owner, then renamed over it.
# Exit: 0, or the failing step's.
set -e
cd
f=$1
umask 077
mkdir -p -- "$(dirname -- "$f")"
cat >"$f.tmp"
chmod -- "$2" "$f.tmp"
if [ -n "$3" ]; then chown -- "$3" "$f.tmp"; fi
mv -f -- "$f.tmp" "$f"
