# backup-restic.sh: runs inside the berth-backup container (restic and
# busybox), as `sh -c SCRIPT berth-backup OP [ARG...]`, never on a host.
#
# Environment: BERTH_REPOSITORY, restic's repository (/repo: a directory
# mounted there; sftp:... or s3:...); BERTH_SFTP_COMMAND, for sftp, the ssh
# command restic runs (its key /run/berth/ssh_key, host keys in
# /run/known_hosts, mounted from the host); BERTH_HOST, for a repository
# that the accessory's hosts may share, the host this runs for: its
# snapshots are tagged host=BERTH_HOST too, and only they are looked at.
# Mounts: for backup, each of the accessory's directories and volumes at
# /data<its path in the accessory> (read-only); for restore, the same
# read-write. /run/berth is a tmpfs of mode 0700.
# Stdin: the secrets, and nothing else, as backup_secrets_stdin()
# (engine/backup.h) writes them: "berth-backup-secrets 1", a "NAME LENGTH"
# line per secret, an empty line, then the secrets' bytes back to back.
# Each goes to /run/berth/NAME (mode 0600): restic reads the password's
# through RESTIC_PASSWORD_FILE, ssh the key's; the S3 keys are exported for
# restic. None is in an argv.
#
#   backup ACCESSORY    a checksum manifest of every file under /data
#                       (/data/.berth-manifest.sha256, sha256sum's format),
#                       then a snapshot of /data tagged berth (and
#                       host=BERTH_HOST); the repository is made first
#                       when there is none.
#                       Output: "snapshot ID SIZE" (bytes backed up).
#   verify SNAPSHOT     restores SNAPSHOT ("latest": the newest) into
#                       /scratch, checks every file against its manifest and
#                       that no file is missing or extra.
#                       Output: "checking ID" once it is found, then "verified ID".
#   restore SNAPSHOT PATH...
#                       verify, then each PATH (an accessory's directory,
#                       mounted at /data/PATH) is emptied and filled from
#                       the restored copy.
#                       Output: "verified ID", "restored ID".
#   extract SNAPSHOT    verify, restoring into /scratch (a mount of the
#                       host's staging directory), which keeps the files.
#                       Output: "checking ID", "verified ID".
#   forget FLAG...      restic forget FLAG... --prune on those snapshots.
#   snapshots           restic snapshots --json of those snapshots: one line.
#
# Exit: 0; 3 when there is no repository or no such snapshot; 4 when the
# snapshot does not verify; 5 when the repository cannot be opened (not
# reachable, refused, or a wrong password): the reason on stderr, starting
# "berth-backup:"; another status when restic or a tool failed.
set -eu
umask 077
op=$1
shift
say() { printf 'berth-backup: %s\n' "$*" >&2; }

# the secrets from stdin into /run/berth/NAME, every byte accounted for
in=/run/berth/stdin
cat >"$in"
secrets=
off=0
first=1
while read -r name len; do
  off=$((off + ${#name} + ${#len} + 2))
  if [ -n "$first" ]; then
    first=
    if [ "$name $len" != "berth-backup-secrets 1" ]; then
      say "the secrets on stdin are not in berth-backup-secrets 1 format"
      exit 2
    fi
    continue
  fi
  if [ -z "$name" ]; then
    off=$((off - 1))
    break
  fi
  case $name in *[!a-z_]*) say "a secret's name on stdin is not a name"; exit 2 ;; esac
  case $len in '' | *[!0-9]*) say "secret $name: a length that is not a number"; exit 2 ;; esac
  secrets="$secrets $name:$len"
done <"$in"
for s in $secrets; do
  name=${s%:*}
  len=${s#*:}
  tail -c +$((off + 1)) "$in" | head -c "$len" >"/run/berth/$name"
  off=$((off + len))
done
if [ "$(wc -c <"$in")" -ne "$off" ]; then
  say "the secrets on stdin do not add up to their lengths"
  exit 2
fi
rm -f "$in"
if [ ! -s /run/berth/password ]; then
  say "no password on stdin"
  exit 2
fi
RESTIC_PASSWORD_FILE=/run/berth/password
RESTIC_REPOSITORY=${BERTH_REPOSITORY:-/repo}
export RESTIC_PASSWORD_FILE RESTIC_REPOSITORY
if [ -f /run/berth/aws_access_key_id ]; then
  AWS_ACCESS_KEY_ID=$(cat /run/berth/aws_access_key_id)
  AWS_SECRET_ACCESS_KEY=$(cat /run/berth/aws_secret_access_key)
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
fi
# ssh reads no key without its last line's newline
if [ -f /run/berth/ssh_key ] && [ -n "$(tail -c 1 /run/berth/ssh_key)" ]; then
  echo >>/run/berth/ssh_key
fi
manifest=.berth-manifest.sha256
# the snapshots this works on: berth's (and this host's, in a shared repository)
tags=berth
if [ -n "${BERTH_HOST:-}" ]; then
  tags="berth,host=$BERTH_HOST"
fi

# restic ARG...: with the sftp command when there is one, never a local cache
restic() {
  if [ -n "${BERTH_SFTP_COMMAND:-}" ]; then
    command restic --no-cache -o "sftp.command=$BERTH_SFTP_COMMAND" "$@"
  else
    command restic --no-cache "$@"
  fi
}

# have_repo: true when the repository opens with the password; false when
# there is none; exits 5 when it cannot be told (not reachable, refused, a
# wrong password), so that a second repository is never made over one.
have_repo() {
  if restic cat config >/dev/null 2>/tmp/open.log; then
    return 0
  fi
  if grep -q '^Is there a repository at the following location' /tmp/open.log &&
    grep -q -i -e 'no such file or directory' -e 'file does not exist' \
      -e 'specified key does not exist' -e 'specified bucket does not exist' /tmp/open.log; then
    return 1
  fi
  # ssh's own reason (a changed host key, a refused key) says more than
  # restic's, which may come without it: ask ssh once more, for the reason
  if [ -n "${BERTH_SFTP_COMMAND:-}" ]; then
    # shellcheck disable=SC2086 # words without spaces or patterns (backup.h)
    $BERTH_SFTP_COMMAND </dev/null >/dev/null 2>>/tmp/open.log || true
  fi
  why=$(grep -m 1 -e 'IDENTIFICATION HAS CHANGED' -e 'Host key verification failed' \
    -e 'Permission denied' -e 'Connection refused' -e 'timed out' -e 'No route to host' \
    /tmp/open.log || grep -m 1 '^Fatal: ' /tmp/open.log || tail -n 1 /tmp/open.log)
  case $why in *IDENTIFICATION*) why="the SSH host key changed since it was pinned" ;; esac
  say "cannot open the repository at $RESTIC_REPOSITORY: ${why#Fatal: }"
  exit 5
}

# restore_scratch SNAPSHOT: the snapshot in /scratch, checked against its
# manifest; prints "verified ID"
restore_scratch() {
  if ! have_repo; then
    say "no repository at $RESTIC_REPOSITORY"
    exit 3
  fi
  id=$(restic snapshots --json --tag "$tags" "$1" 2>/dev/null |
    sed -n 's/.*"short_id":"\([0-9a-f]*\)".*/\1/p' | tail -n 1)
  if [ -z "$id" ]; then
    say "no snapshot '$1' in the repository"
    exit 3
  fi
  echo "checking $id"
  # /scratch may be a mount (extract): emptied, not removed
  mkdir -p /scratch
  find /scratch -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  if ! restic restore "$id" --target /scratch >/tmp/restore.log 2>&1; then
    tail -n 5 /tmp/restore.log >&2
    say "snapshot $id does not verify: restic could not restore it (the repository is damaged)"
    exit 4
  fi
  if [ ! -f "/scratch/$manifest" ]; then
    say "snapshot $id does not verify: it has no checksum manifest"
    exit 4
  fi
  cd /scratch
  if ! sha256sum -c -s "$manifest" 2>/tmp/check.log; then
    say "snapshot $id does not verify: files differ from their checksums"
    exit 4
  fi
  find . -type f ! -path "./$manifest" | sort >/tmp/have
  sed 's/^[0-9a-f]*  //' "$manifest" | sort >/tmp/want
  if ! cmp -s /tmp/have /tmp/want; then
    say "snapshot $id does not verify: its files are not the ones its manifest lists"
    exit 4
  fi
  cd /
  echo "verified $id"
}

case $op in
backup)
  if ! have_repo; then
    restic init >/dev/null
  fi
  cd /data
  rm -f "$manifest"
  find . -type f -print0 | xargs -0 -r sha256sum >/tmp/manifest
  sort -k 2 /tmp/manifest >"$manifest"
  restic backup --json --tag "$tags" --host "$1" . >/tmp/backup.json
  id=$(sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' /tmp/backup.json | tail -n 1)
  size=$(sed -n 's/.*"total_bytes_processed":\([0-9]*\).*/\1/p' /tmp/backup.json | tail -n 1)
  [ -n "$id" ]
  echo "snapshot $id ${size:-0}"
  ;;
verify)
  restore_scratch "$1"
  rm -rf /scratch
  ;;
extract)
  restore_scratch "$1"
  ;;
restore)
  restore_scratch "$1"
  shift
  for d in "$@"; do
    find "/data/$d" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    if [ -d "/scratch/$d" ]; then
      cp -a "/scratch/$d/." "/data/$d/"
    fi
  done
  rm -rf /scratch
  echo "restored $id"
  ;;
forget)
  if have_repo; then
    restic forget --tag "$tags" --prune "$@" >&2
  fi
  ;;
snapshots)
  if ! have_repo; then
    echo '[]'
    exit 0
  fi
  restic snapshots --json --tag "$tags"
  echo
  ;;
*)
  say "unknown operation '$op'"
  exit 2
  ;;
esac
