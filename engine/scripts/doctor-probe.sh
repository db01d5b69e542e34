# doctor-probe.sh: the facts `berth doctor` judges a host by.
#
# Sent on stdin to `sh -s`; no arguments. Output: sections, each starting
# with a line "@@berth NAME"; commands that may fail print "@@rc N" after
# their output; "@@berth end" last. Exit: 0. The script is fixed text:
# nothing from the user or the config is ever spliced into it.
export LC_ALL=C
s() { echo "@@berth $1"; }
s time; date +%s.%N 2>/dev/null
s uptime; cat /proc/uptime 2>/dev/null
s loadavg; cat /proc/loadavg 2>/dev/null
s ncpu; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null
s meminfo; cat /proc/meminfo 2>/dev/null
s docker_info; docker info --format '{{json .}}' 2>&1; echo "@@rc $?"
s docker_ps; docker ps -a --format '{{json .}}' 2>/dev/null
s docker_stats; docker stats --no-stream --format '{{json .}}' 2>/dev/null
s docker_df; docker system df --format '{{json .}}' 2>/dev/null
s log_config; docker ps -q 2>/dev/null | xargs -r docker inspect --format '{{.Name}}	{{.HostConfig.LogConfig.Type}}	{{index .HostConfig.LogConfig.Config "max-size"}}' 2>/dev/null
s df; root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null)
for p in / ${root:+"$root"}; do echo "@@path $p"; df -Pk "$p" 2>/dev/null | tail -n +2; done
s listeners; if command -v ss >/dev/null 2>&1; then ss -Hltnp 2>/dev/null; else echo '@@nss'; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; fi
s daemon_json; cat /etc/docker/daemon.json 2>/dev/null
s end
