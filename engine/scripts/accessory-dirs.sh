# accessory-dirs.sh: an accessory's directories on a host, and the home.
#
# Triples DIR MODE OWNER: each DIR (relative to the ssh user's home, or
# absolute) is made with its parents; MODE (octal) and OWNER ("user[:group]")
# are applied when not "". No triple: only the home is printed.
# Output: the home (absolute), one line. Exit: 0, or the failing step's.
set -e
cd
while [ $# -ge 3 ]; do
  mkdir -p -- "$1"
  if [ -n "$2" ]; then chmod -- "$2" "$1"; fi
  if [ -n "$3" ]; then chown -- "$3" "$1"; fi
  shift 3
done
pwd
