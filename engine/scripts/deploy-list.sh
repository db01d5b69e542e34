# deploy-list.sh: every container of a role.
#
# The role's docker ps filters as arguments.
# Output: "VERSION STATE NAME" a line. Exit: docker's.
docker ps -a "$@" --format '{{.Label "version"}} {{.State}} {{.Names}}'
