# backup-schedule.sh: an accessory's backup scheduler on its host.
#
#   backup-schedule.sh install NAME IMAGE DIR JOB SECRET REPO CONFIG LINE ENTRY JOBTEXT
#       DIR (the backups directory, absolute) made, mode 0700; SECRET
#       becomes stdin and JOB becomes JOBTEXT (both mode 0600, written to a
#       temporary file renamed over them, only when they differ); REPO made
#       (mode 0700) when it is an absolute path that is missing. Then the
#       container NAME: kept when its label berth.backup.config is CONFIG
#       (started when it is not running), else made again:
#         docker run -d --restart unless-stopped IMAGE sh -c ENTRY berth-backup-cron LINE
#       with the docker socket and DIR mounted.
#       Output: "installed", "updated", "started" or "unchanged".
#   backup-schedule.sh remove NAME JOB SECRET
#       the container, JOB and SECRET removed. Output: "removed" or "none".
#   backup-schedule.sh status NAME STATE RUNS
#       what engine/backup.h's backup_parse_status reads.
# Relative paths are under the home. Exit: 0, or 1 when docker failed.
set -u
umask 077
op=$1
shift
cd || exit 1

# put FILE: stdin into FILE when it differs
put() {
  cat >"$1.tmp.$$" || return 1
  if cmp -s -- "$1.tmp.$$" "$1"; then
    rm -f -- "$1.tmp.$$"
  else
    chmod 600 -- "$1.tmp.$$" && mv -f -- "$1.tmp.$$" "$1"
  fi
}

case $op in
install)
  name=$1 image=$2 dir=$3 job=$4 secret=$5 repo=$6 config=$7 line=$8 entry=$9
  shift 9
  mkdir -p -- "$dir" && chmod 700 -- "$dir" || exit 1
  put "$secret" || exit 1
  printf '%s' "$1" | put "$job" || exit 1
  case $repo in
  /*)
    if [ ! -d "$repo" ]; then
      mkdir -p -- "$repo" && chmod 700 -- "$repo" || exit 1
    fi
    ;;
  esac
  have=$(docker inspect -f '{{index .Config.Labels "berth.backup.config"}} {{.State.Running}}' \
    "$name" 2>/dev/null </dev/null || true)
  if [ "$have" = "$config true" ]; then
    echo unchanged
    exit 0
  fi
  if [ "$have" = "$config false" ]; then
    docker start "$name" >/dev/null </dev/null || exit 1
    echo started
    exit 0
  fi
  did=installed
  if [ -n "$have" ]; then
    docker rm -f "$name" >/dev/null </dev/null || exit 1
    did=updated
  fi
  docker run -d --name "$name" --restart unless-stopped --network none \
    --log-driver json-file --log-opt max-size=10m --log-opt max-file=2 \
    --label "berth.backup=${name%-backup}" --label "berth.backup.scheduler=${name%-backup}" \
    --label "berth.backup.config=$config" \
    --label "berth.backup.installed=$(date +%s)" \
    -e TZ=UTC -v /var/run/docker.sock:/var/run/docker.sock -v "$dir:$dir" \
    "$image" sh -c "$entry" berth-backup-cron "$line" >/dev/null </dev/null || exit 1
  echo "$did"
  ;;
remove)
  name=$1 job=$2 secret=$3
  did=none
  if docker inspect "$name" >/dev/null 2>&1 </dev/null; then
    docker rm -f "$name" >/dev/null </dev/null || exit 1
    did=removed
  fi
  if [ -e "$job" ] || [ -e "$secret" ]; then
    rm -f -- "$job" "$secret" || exit 1
    did=removed
  fi
  echo "$did"
  ;;
status)
  name=$1 state=$2 runs=$3
  echo "berth-backup-status 1"
  echo "now $(date +%s)"
  # docker inspect prints an empty line for a container that is not there
  if ! s=$(docker inspect -f '{{.State.Status}} {{index .Config.Labels "berth.backup.installed"}}' \
    "$name" 2>/dev/null </dev/null) || [ -z "$s" ]; then
    s="none -"
  fi
  echo "scheduler $s"
  if [ -f "$state" ]; then
    echo "state $(wc -c <"$state")"
    cat -- "$state"
  else
    echo "state 0"
  fi
  if [ -f "$runs" ]; then
    tail -n 1000 -- "$runs" >"${TMPDIR:-/tmp}/berth-runs.$$"
    echo "runs $(wc -c <"${TMPDIR:-/tmp}/berth-runs.$$")"
    cat -- "${TMPDIR:-/tmp}/berth-runs.$$"
    rm -f -- "${TMPDIR:-/tmp}/berth-runs.$$"
  else
    echo "runs 0"
  fi
  ;;
*)
  echo "backup-schedule: unknown operation '$op'" >&2
  exit 2
  ;;
esac
