# app-logs-grep.sh: an app container's logs, only the lines that match.
#
# $1 the pattern (grep -e), then `docker logs` options and the container.
# Output: the matching lines, stdout and stderr of the container merged.
# Exit: 0, also when no line matched (grep's 1 is not a failure); else
# docker's or grep's status.
p=$1
shift
docker logs "$@" 2>&1 | grep --line-buffered -e "$p" || [ $? -eq 1 ]
