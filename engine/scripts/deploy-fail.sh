# deploy-fail.sh: what a container that did not become ready said, then stops it.
#
# $1 container, $2 how many log lines.
# Output: its last log lines and health-check answers. Exit: 0.
name=$1 lines=$2
echo "--- last $lines log lines of $name ---"
docker logs --tail "$lines" "$name" 2>&1
h=$(docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}exit {{.ExitCode}}: {{.Output}}{{end}}{{end}}' "$name" 2>/dev/null)
if [ -n "$h" ]; then echo "--- Docker health checks ---"; echo "$h"; fi
docker stop -t 1 "$name" >/dev/null 2>&1 || true
