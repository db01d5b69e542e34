# state-audit-append.sh: appends to an app's audit log on a host.
#
# $1 the app directory (relative to $HOME unless absolute); stdin the lines.
# Exit: 0, or the failing step's.
umask 077
case $1 in /*) d=$1 ;; *) d=${HOME:?}/$1 ;; esac
mkdir -p "$d" && cat >>"$d/audit.log"
