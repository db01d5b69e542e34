# proxy-ensure.sh: boots or reboots berth-proxy on a host.
#
# Makes sure of the network, says whether the image is there, and gets the
# containers going when it can. $1 "boot" or "reboot", $2 network, $3
# container, $4 image, $5 the image ID the host must have ("-": any ID, but
# the image must be there; "": anything, docker run may pull it), $6 the
# ports container, $7 its label as the config wants it, $8 how many
# arguments its `docker run` has (0: the ports are not held), $9 the state
# volume, ${10} the state directory in the container; then the ports
# container's argv, then the proxy's `docker run` argv. Output:
#   image ok | image missing
#   container started | restarted | unpaused | running | running-other IMAGE
#            | restarting | pending (the image must come first) | rebooted
#            | replaced
# Exit: 0, or a code that says which step failed (3 no docker, 4 the
# network; the rest as proxyhost.c's ensure_what reads them).
#
# The holder is started only for a proxy that takes its sockets from it
# (one of an older layout publishes the ports itself: both cannot bind
# them). A reboot where the holder runs as the config wants it and the
# proxy takes its sockets is a handover: the old container is renamed (and
# told not to restart), the new one started under the name takes its
# listeners (--takeover-if-running), and the old one drains and exits by
# itself; when the new one fails first, the old one gets its name back and
# serves on. Any other reboot stops, removes and runs, holder first.
mode=$1 net=$2 name=$3 image=$4 id=$5 ports=$6 plabel=$7 hn=$8 vol=$9 sdir=${10}; shift 10
command -v docker >/dev/null 2>&1 || { echo 'docker is not installed' >&2; exit 3; }
docker network inspect "$net" >/dev/null 2>&1 ||
  docker network create "$net" >/dev/null 2>&1 ||
  docker network inspect "$net" >/dev/null || exit 4
have=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) || have=
case $id in
'') img=1 ;;
-) id=; if [ -n "$have" ]; then img=1; else img=0; fi ;;
*) if [ "$have" = "$id" ]; then img=1; else img=0; fi ;;
esac
if [ $img = 1 ]; then echo 'image ok'; else echo 'image missing'; fi
# the first $1 of the other arguments, run
first() { n=$1; shift; k=0; for a; do shift; [ $k -lt $n ] && set -- "$@" "$a"; k=$((k+1)); done; "$@"; }
run_ports() { first "$hn" "$@" >/dev/null; }
run_proxy() { shift "$hn"; "$@" >/dev/null; }
st=$(docker container inspect --format '{{.State.Status}} {{.Image}} {{.Config.Image}}' "$name" 2>/dev/null) || st=absent
pst=$(docker container inspect --format '{{.State.Status}} {{index .Config.Labels "berth.proxy.ports"}}' "$ports" 2>/dev/null) || pst=absent
held=0
[ "$st" = absent ] || docker container inspect --format '{{json .Config.Cmd}}' "$name" | grep -q -e '--listeners-from' && held=1
# the holder running, holding what the config asks for (one that is not running holds
# nothing: it is made anew)
ports_up() {
  if [ "$pst" != absent ] && [ "$pst" != "running $plabel" ]; then
    docker container rm -f "$ports" >/dev/null || exit 9; pst=absent
  fi
  [ "$pst" != absent ] || run_ports "$@" || exit 9
  pst="running $plabel"
}
ports_gone() { [ "$pst" = absent ] || docker container rm -f "$ports" >/dev/null || exit 9; }
# back to the old container after a failed handover
undo() {
  docker container rm -f "$name" >/dev/null 2>&1
  docker container rename "$old" "$name" &&
    docker container update --restart unless-stopped "$name" >/dev/null
}
# kamal-proxy holds the ports: its routes are carried over, then the ports move
kst=$(docker container inspect --format '{{.State.Status}}' kamal-proxy 2>/dev/null) || kst=absent
if [ "$st" = absent ] && [ "$kst" = running ] && [ "$hn" -gt 0 ]; then
  [ $img = 1 ] || { echo 'container pending'; exit 0; }
  ports_gone
  docker container cp kamal-proxy:/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state - 2>/dev/null | tar -xO 2>/dev/null |
    docker run --rm -i -v "$vol:$sdir" "$image" berth-proxy import-kamal-state --state-dir "$sdir" >&2 || exit 10
  # created, joined to kamal's network (its apps are there), started: it restores the
  # routes, checks them and waits for the holder
  created() { shift "$hn"; shift 3; docker container create "$@" >/dev/null; }
  created "$@" || exit 6
  if docker network inspect kamal >/dev/null 2>&1; then
    docker network connect kamal "$name" || exit 6
  fi
  docker container start "$name" >/dev/null || exit 7
  i=0
  until docker container logs "$name" 2>&1 | grep -q 'waiting for the listeners'; do
    [ $i -lt 300 ] || { docker container rm -f "$name" >/dev/null; exit 10; }
    i=$((i+1)); sleep 0.1
  done
  # the holder made beforehand: from kamal-proxy's stop to the ports bound again is
  # as short as it gets
  as_create() { shift 3; docker container create "$@" >/dev/null; }
  first $((hn + 1)) as_create "$@" || exit 9
  docker container update --restart no kamal-proxy >/dev/null &&
    docker container stop kamal-proxy >/dev/null || exit 10
  docker container start "$ports" >/dev/null || exit 9
  echo 'container took-over-kamal'; exit 0
fi
if [ "$mode" = reboot ] && [ "$st" != absent ]; then
  [ $img = 1 ] || { echo 'container pending'; exit 0; }
  if [ "$hn" -gt 0 ] && [ $held = 1 ] && [ "${st%% *}" = running ] &&
     [ "$pst" = "running $plabel" ]; then
    old=$name-old
    docker container rm -f "$old" >/dev/null 2>&1
    docker container update --restart no "$name" >/dev/null &&
      docker container rename "$name" "$old" || exit 5
    run_proxy "$@" || { undo; exit 6; }
    i=0
    until docker container logs "$name" 2>&1 | grep -q 'took over the listeners'; do
      r=$(docker container inspect --format '{{.State.Status}} {{.RestartCount}}' "$name" 2>/dev/null)
      if [ "$r" != 'running 0' ] || [ $i -ge 900 ]; then
        docker container logs --tail 3 "$name" >&2 2>&1; undo; exit 8
      fi
      i=$((i+1)); sleep 0.1
    done
    docker container wait "$old" >/dev/null; docker container rm "$old" >/dev/null
    echo 'container rebooted'; exit 0
  fi
  docker container stop "$name" >/dev/null && docker container rm "$name" >/dev/null || exit 5
  if [ "$hn" -gt 0 ]; then ports_up "$@"; else ports_gone; fi
  run_proxy "$@" || exit 6
  echo 'container replaced'; exit 0
fi
case $st in
absent)
  [ $img = 1 ] || { echo 'container pending'; exit 0; }
  if [ "$hn" -gt 0 ]; then ports_up "$@"; else ports_gone; fi
  run_proxy "$@" || exit 6
  echo 'container started' ;;
running\ *)
  [ $held = 1 ] && [ "${pst%% *}" != running ] && ports_up "$@"
  if [ -n "$id" ] && [ "${st#running $id }" = "$st" ]; then
    echo "container running-other ${st##* }"
  else echo 'container running'; fi ;;
paused\ *) docker container unpause "$name" >/dev/null || exit 7; echo 'container unpaused' ;;
restarting\ *)
  [ $held = 1 ] && [ "${pst%% *}" != running ] && ports_up "$@"
  echo 'container restarting' ;;
*) [ $held = 1 ] && ports_up "$@"
  docker container start "$name" >/dev/null || exit 7; echo 'container restarted' ;;
esac
