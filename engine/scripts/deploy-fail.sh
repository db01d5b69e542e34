# deploy-fail.sh: what the containers that did not become ready said, then
# stops them and the other new containers of the deploy.
#
# $1 how many log lines, $2 how many containers to show (k), then the k
# containers to show, then the others to stop without showing them.
# Output: each shown one's last log lines and health-check answers. Exit: 0.
lines=$1 k=$2
shift 2
i=0
for name do
  i=$((i + 1))
  if [ "$i" -le "$k" ]; then
    echo "--- last $lines log lines of $name ---"
    docker logs --tail "$lines" "$name" 2>&1
    h=$(docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}exit {{.ExitCode}}: {{.Output}}{{end}}{{end}}' "$name" 2>/dev/null)
    if [ -n "$h" ]; then echo "--- Docker health checks ---"; echo "$h"; fi
  fi
done
if [ "$#" -gt 0 ]; then docker stop -t 1 "$@" >/dev/null 2>&1 || true; fi
