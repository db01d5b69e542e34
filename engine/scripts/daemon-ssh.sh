# daemon-ssh.sh: the forced command of every key of the berth user, which
# `berth server bootstrap --daemon` writes to ~berth/berthd-ssh (root's,
# 0755) with "#!/bin/sh" in front. berthd writes each key's line of
# ~berth/.ssh/authorized_keys as
#
#   command="~berth/berthd-ssh NAME",no-port-forwarding,... TYPE BASE64 NAME
#
# so sshd runs this with the key's NAME as $1 and what the client asked for
# in SSH_ORIGINAL_COMMAND, which goes on in the environment of `docker exec`
# (never in an argv) to `berthd ssh` in the container berthd. Stdin and
# stdout pass through (git push and fetch speak over them); a terminal gets
# one in the container too (ssh -t).
key=${1-}
if [ -t 0 ]; then
  set -- -t
else
  set --
fi
exec docker exec -i "$@" -e SSH_ORIGINAL_COMMAND -e "BERTHD_KEY=$key" berthd berthd ssh
