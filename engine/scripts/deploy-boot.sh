# deploy-boot.sh: writes a container's env file, boots it, then switches.
#
# $1 env file ("" for none), $2 container name ("" for none), $3 network,
# $4 how many bytes of stdin are the env file ("" for all of it), $5 n, then
# the boot command (n words), then the switch command. Paths are relative
# to the ssh user's home (`cd` first), also for the local executor.
# Stdin: the env file (or its first $4 bytes, read one at a time so that
# none of what follows is taken: the rest is the switch command's, a
# certificate and key for the proxy), written 0600, atomically.
# Runs the boot command, and when it fails because the network is missing
# or the name is taken (an earlier try of the same version) creates the
# network or renames that container away, and tries again; passes on its
# output and says "berth-started"; then runs the switch (the proxy's
# deploy, or the readiness wait; none for release_command). One ssh round
# trip for all; the usual case runs one docker command before the switch.
# Exit: 1 when the boot failed (its output on stderr), else the switch's.
set -e
cd
envf=$1 name=$2 net=$3 envlen=$4 n=$5
shift 5
if [ -n "$envf" ]; then
  (umask 077 && mkdir -p "${envf%/*}" &&
   if [ -n "$envlen" ]; then dd bs=1 count="$envlen" of="$envf.tmp" 2>/dev/null;
   else cat >"$envf.tmp"; fi && mv -f "$envf.tmp" "$envf")
fi
first() {
  k=$1 total=$(($# - 1)) i=0
  shift
  for a do
    if [ $i -lt $k ]; then set -- "$@" "$a"; fi
    i=$((i + 1))
  done
  shift $total
  "$@"
}
try=0
until out=$(first "$n" "$@" 2>&1); do
  try=$((try + 1))
  case $try:$out in
  [12]:*"is already in use"*)
    [ -n "$name" ] && docker rename "$name" "${name}_replaced_$(date +%s%N)" ;;
  [12]:*"network $net not found"*)
    docker network create "$net" >/dev/null 2>&1 || docker network inspect "$net" >/dev/null ;;
  *)
    echo "$out" >&2
    exit 1 ;;
  esac
done
if [ -n "$out" ]; then printf '%s\n' "$out"; fi
echo berth-started
shift "$n"
exec "$@"
