# backup-run.sh: an accessory's backup step on its host.
#
#   backup-run.sh OP CONTAINER REPO STATE [DOCKER_RUN_ARG...]
#
# OP backup: CONTAINER (the accessory's) is paused while the rest runs (when
#   it runs), and unpaused on every way out, failure and signals included.
# OP restore: CONTAINER is stopped while the rest runs, and started again on
#   every way out (when it was running before).
# OP verify, forget, snapshots: the rest runs, the accessory untouched.
# OP db-backup, db-verify, db-restore: the same; the rest is backup-db.sh,
#   which dumps from and loads into the running accessory itself.
# Each of these runs DOCKER_RUN_ARG... (a `docker run -i ...` of the
# berth-backup image) with this script's stdin, which carries the secrets.
# REPO is the backup's target: a directory (/DIR) is made (mode 0700) when
# missing; for ssh://..., the known hosts file next to STATE (known_hosts,
# mode 0600, host keys pinned on first use) is made when missing and
# mounted at /run/known_hosts; s3://... needs nothing here.
# OP state-read: prints STATE (a JSON file; relative paths are under the
#   home) when it exists.
# OP state-write: STATE becomes stdin, atomically (a temporary file renamed
#   over it), its directory made first; umask 077.
# Exit: the docker run's status (or the state step's).
set -u
umask 077
op=$1
c=$2
repo=$3
state=$4
shift 4
cd || exit 1

case $op in
state-read)
  if [ -f "$state" ]; then cat -- "$state"; fi
  exit 0
  ;;
state-write)
  set -e
  mkdir -p -- "$(dirname -- "$state")"
  cat >"$state.tmp.$$"
  mv -f -- "$state.tmp.$$" "$state"
  exit 0
  ;;
esac

case $repo in
/*)
  if [ ! -d "$repo" ]; then
    mkdir -p -- "$repo" && chmod 700 -- "$repo" || exit 1
  fi
  ;;
ssh://*)
  kh=$(dirname -- "$state")/known_hosts
  case $kh in /*) ;; *) kh=$PWD/$kh ;; esac
  case $kh in *,*)
    echo "berth-backup: '$kh' cannot be mounted (a comma)" >&2
    exit 1
    ;;
  esac
  if [ ! -f "$kh" ]; then
    mkdir -p -- "$(dirname -- "$kh")" && : >>"$kh" || exit 1
  fi
  # the mount right after the argv's first "docker" "run" (a database
  # kind's argv starts with backup-db.sh's words)
  n=$#
  prev=
  put=
  for a do
    set -- "$@" "$a"
    if [ -z "$put" ] && [ "$prev" = docker ] && [ "$a" = run ]; then
      set -- "$@" --mount "type=bind,source=$kh,target=/run/known_hosts"
      put=1
    fi
    prev=$a
  done
  shift "$n"
  ;;
esac
running=$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null </dev/null || echo none)
undo=
case $op in
backup)
  if [ "$running" = true ]; then
    docker pause "$c" >/dev/null </dev/null || exit 1
    undo=unpause
  fi
  ;;
restore)
  if [ "$running" = true ]; then
    docker stop "$c" >/dev/null </dev/null || exit 1
    undo=start
  fi
  ;;
esac
finish() {
  if [ -n "$undo" ]; then
    docker "$undo" "$c" >/dev/null </dev/null || echo "berth-backup: cannot $undo '$c'" >&2
    undo=
  fi
}
trap 'finish' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
"$@"
