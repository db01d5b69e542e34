# proxy-containers.sh: berth-proxy's containers on a host.
#
# $1 the proxy container's name. Output: "NAME IMAGE STATUS PORTS" a line,
# for it and its ports container ($1-ports). Exit: docker's.
exec docker ps --all --no-trunc --filter "name=^$1(-ports)?\$" \
	--format '{{.Names}} {{.Image}} {{.Status}} {{.Ports}}'
