# deploy-env.sh: writes a container's env file.
#
# $1 the env file (relative to the ssh user's home); stdin its text,
# written 0600, atomically. Exit: 0, or the failing step's.
set -e
cd
envf=$1
umask 077
mkdir -p "${envf%/*}"
cat >"$envf.tmp"
mv -f "$envf.tmp" "$envf"
