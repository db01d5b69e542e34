# backup-job.sh: the end of an accessory's scheduled backup job, which the
# scheduler's crond runs in the berth-backup image (busybox sh, the docker
# CLI talking to the host's dockerd through its socket).
#
# The job's generated start (engine/backup.h, backup_job_text) sets HOME
# (the ssh user's home on the host), secret and runs (absolute paths in the
# backups directory, which is mounted at the same path), run (the text of
# backup-run.sh) and defines step_backup, step_verify (which reads $snap)
# and step_forget, each running one step of `berth backup now` as a
# process with backup-run.sh's argv. This part runs them in that order,
# each with the secret file on stdin, as backup_now does: verify only
# after a snapshot, forget only after it verified. It appends one line to
# the runs file (format: backup_parse_runs):
#
#   EPOCH schedule SNAPSHOT SIZE VERIFIED WHY
#
# and keeps that file to its last 1000 lines, owned by the owner of its
# directory (the ssh user, who reads it back). Output: the steps' stderr,
# to the scheduler's log (docker logs). Exit: 0 when the snapshot verified.
# shellcheck disable=SC2154 # secret, runs: set by the job's start
set -u
umask 077
PATH=/usr/local/bin:/bin:/usr/bin:/sbin:/usr/sbin
export PATH HOME
if [ -w /proc/1/fd/2 ]; then
  exec >>/proc/1/fd/2 2>&1 </dev/null
fi
mkdir -p -- "$HOME" && cd -- "$HOME" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 143' TERM

# record SNAPSHOT SIZE VERIFIED WHY
record() {
  why=$(printf '%s' "$4" | tr -c ' -~' ' ' | cut -c 1-300)
  printf '%s schedule %s %s %s %s\n' "$(date +%s)" "$1" "$2" "$3" "${why:--}" >>"$runs"
  if [ "$(wc -l <"$runs")" -gt 2000 ]; then
    tail -n 1000 "$runs" >"$runs.tmp" && mv -f -- "$runs.tmp" "$runs"
  fi
  # the job runs as root: the file stays the ssh user's, as its directory is
  chown "$(stat -c %u:%g -- "$(dirname -- "$runs")")" "$runs" 2>/dev/null || true
}
# why_of FILE: the step's "berth-backup: ..." line, else its last line
why_of() {
  w=$(sed -n 's/^berth-backup: //p' "$1" | tail -n 1)
  if [ -z "$w" ]; then
    w=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1)
  fi
  printf '%s' "${w:-failed}"
}

echo "berth-backup: scheduled backup starts at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ ! -s "$secret" ]; then
  record - -1 0 "no secret file on the host (berth backup schedule writes it)"
  exit 1
fi
step_backup <"$secret" >"$tmp/out" 2>"$tmp/err"
st=$?
cat -- "$tmp/err"
if [ "$st" -ne 0 ]; then
  record - -1 0 "$(why_of "$tmp/err")"
  exit 1
fi
snap=$(sed -n 's/^snapshot \([0-9a-f]*\) [0-9]*$/\1/p' "$tmp/out" | tail -n 1)
size=$(sed -n 's/^snapshot [0-9a-f]* \([0-9]*\)$/\1/p' "$tmp/out" | tail -n 1)
case ${#snap} in
8 | 9 | [1-5][0-9] | 6[0-4]) ;;
*)
  record - -1 0 "restic reported no snapshot"
  exit 1
  ;;
esac
snap=$(printf '%s' "$snap" | cut -c 1-8)
size=${size:--1}
step_verify <"$secret" >"$tmp/out" 2>"$tmp/err"
st=$?
cat -- "$tmp/err"
if [ "$st" -ne 0 ] || ! grep -q "^verified $snap" "$tmp/out"; then
  record "$snap" "$size" 0 "$(why_of "$tmp/err")"
  exit 1
fi
record "$snap" "$size" 1 -
echo "berth-backup: snapshot $snap verified"
step_forget <"$secret" >/dev/null 2>"$tmp/err" || cat -- "$tmp/err"
exit 0
