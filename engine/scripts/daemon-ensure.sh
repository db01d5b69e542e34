# daemon-ensure.sh: makes sure the container berthd runs, from the image
# asked for and with the options asked for; safe to run again.
#
#   sh -c SCRIPT berth-daemon NAME IMAGE ID OPTIONS DOCKER_RUN_ARGV...
#
# NAME is the container, IMAGE the image's name and ID the ID the host must
# have under that name ("-": any). OPTIONS is what the container's label
# berth.daemon.options must say (the docker run argv sets it): a container
# from another image ID or with other options is replaced; one as asked is
# left running, or started when it is stopped. Output:
#   image ok | image missing
#   container started | replaced | running | restarted | unpaused
#           | restarting | pending (the image must come first)
# A container of that name that is not from a berthd image (no label
# berth.daemon=1) is left alone. Exit: 0, or 3 no docker, 5 the old
# container cannot be removed, 6 the new one cannot be run, 7 a stopped one
# cannot be started, 8 the name is taken by a container not berthd's.
name=$1 image=$2 id=$3 opts=$4
shift 4
command -v docker >/dev/null 2>&1 || { echo 'docker is not installed' >&2; exit 3; }
have=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) || have=
if [ -n "$have" ] && { [ "$id" = - ] || [ "$have" = "$id" ]; }; then
  echo 'image ok'
else
  echo 'image missing'
  echo 'container pending'
  exit 0
fi
st=$(docker container inspect --format '{{.State.Status}} {{index .Config.Labels "berth.daemon"}} {{.Image}} {{index .Config.Labels "berth.daemon.options"}}' "$name" 2>/dev/null) || st=absent
if [ "$st" = absent ]; then
  "$@" >/dev/null || exit 6
  echo 'container started'
  exit 0
fi
state=${st%% *}
rest=${st#* }
case $rest in
'1 '*) rest=${rest#1 } ;;
*) echo "the container '$name' is not berthd's (it has no label berth.daemon=1): rename or remove it" >&2; exit 8 ;;
esac
if [ "$rest" != "$have $opts" ]; then
  docker container rm -f "$name" >/dev/null || exit 5
  "$@" >/dev/null || exit 6
  # the image the old container ran, untagged by the new one: gone, unless
  # something else still uses it
  old=${rest%% *}
  if [ "$old" != "$have" ]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
  echo 'container replaced'
  exit 0
fi
case $state in
running) echo 'container running' ;;
restarting) echo 'container restarting' ;;
paused) docker container unpause "$name" >/dev/null || exit 7; echo 'container unpaused' ;;
*) docker container start "$name" >/dev/null || exit 7; echo 'container restarted' ;;
esac
