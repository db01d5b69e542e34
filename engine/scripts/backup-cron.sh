# backup-cron.sh: the scheduler of an accessory's backups, the main process
# of its container (the berth-backup image: busybox and the docker CLI),
# as `sh -c SCRIPT berth-backup-cron LINE`, never on a host.
#
# LINE is one crontab line (engine/backup.h, backup_crontab_line). busybox
# crond runs it in the foreground, in UTC, logging to stderr (docker logs);
# crond never starts a job again while it still runs. On SIGTERM (docker
# stop) every process in the container is asked to end (a step running
# unpauses the accessory on its way out), and is waited for a little.
set -eu
mkdir -p /etc /root /var/spool/cron/crontabs
if ! grep -q '^root:' /etc/passwd 2>/dev/null; then
  echo 'root:x:0:0:root:/root:/bin/sh' >>/etc/passwd
fi
printf '%s\n' "$1" >/var/spool/cron/crontabs/root
TZ=UTC
export TZ
crond -f -L /dev/stderr -c /var/spool/cron/crontabs &
# procs: how many processes the container has (this one's $(...) included)
procs() {
  k=0
  for p in /proc/[0-9]*; do
    if [ -d "$p" ]; then k=$((k + 1)); fi
  done
  echo "$k"
}
stop() {
  kill -TERM -1 2>/dev/null || true
  n=0
  while [ "$n" -lt 100 ] && [ "$(procs)" -gt 2 ]; do
    sleep 0.1
    n=$((n + 1))
  done
  exit 0
}
trap stop TERM INT
wait
