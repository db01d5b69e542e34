# server-bootstrap.sh: readies a host for berth; safe to run again.
#
#   sh -c SCRIPT berth-bootstrap USER RUN_DIR PASSWORDS
#
# USER is the deploy user (a POSIX name, checked by berth); RUN_DIR is
# berth's run directory (relative to a home, or absolute; checked by berth);
# PASSWORDS is "keep" or "off".
#
#   docker        when missing, the distribution's package on Debian and
#                 Ubuntu, started.
#   log rotation  dockerd's default log driver json-file with max-size 10m
#                 and max-file 5 in /etc/docker/daemon.json, unless it sets
#                 a log driver or options already (a new file is checked by
#                 `dockerd --validate` first, where dockerd has it). dockerd applies it to new
#                 containers when it restarts: restarted here only when no
#                 container runs.
#   USER          made when missing (home, shell /bin/bash, no password: it
#                 logs in with the keys of the ssh user), in group docker.
#   RUN_DIR       made, mode 0700, under the ssh user's home and USER's.
#   PASSWORDS off sshd's password and keyboard-interactive logins off
#                 (/etc/ssh/sshd_config.d/00-berth.conf, read first), checked
#                 with `sshd -T` and sshd reloaded. berth's ssh never types a
#                 password (BatchMode), so the login this runs in is a key's.
#
# Root, or sudo without a password, is needed for all but docker being
# there. Output: one line per item, saying what it found or changed.
# Exit: 0, or 1 when something could not be done (why on stderr).
set -u
user=$1
rundir=$2
passwords=$3
rc=0
fail() {
  echo "$*" >&2
  rc=1
}

if [ "$(id -u)" = 0 ]; then
  s=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  s='sudo -n'
else
  s=none
fi

# --- docker
installed=
if command -v docker >/dev/null 2>&1; then
  echo "docker is there: $(docker --version)"
else
  ID=
  ID_LIKE=
  [ -r /etc/os-release ] && . /etc/os-release
  case " $ID $ID_LIKE " in
  *' debian '* | *' ubuntu '*) ;;
  *)
    echo "docker is missing and this is not Debian or Ubuntu ($ID): install docker by hand" >&2
    exit 1
    ;;
  esac
  if [ "$s" = none ]; then
    echo 'docker is missing, and the ssh user is not root and has no sudo without a password: install docker by hand' >&2
    exit 1
  fi
  echo 'docker is missing: installing the docker.io package'
  export DEBIAN_FRONTEND=noninteractive
  $s apt-get update -qq >/dev/null && $s apt-get install -y -qq docker.io >/dev/null || exit 1
  if command -v systemctl >/dev/null 2>&1; then $s systemctl enable --now docker >/dev/null 2>&1 || true; fi
  echo "docker installed: $(docker --version)"
  installed=1
fi

if [ "$s" = none ]; then
  echo "the ssh user is not root and has no sudo without a password: log rotation, user $user and sshd are left as they are" >&2
  exit 1
fi

# --- log rotation
conf=/etc/docker/daemon.json
if [ -f "$conf" ] && grep -q '"log-driver"\|"log-opts"' "$conf"; then
  echo "log rotation: $conf sets the log driver or options already; left as it is"
else
  tmp=$(mktemp) || exit 1
  opts='"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "5"}'
  if [ -s "$conf" ] && [ "$(tr -d ' \t\r\n' <"$conf")" != '{}' ]; then
    # Members first, then the file's own: valid whatever follows its "{".
    sed "0,/{/s//{ $opts,/" "$conf" >"$tmp"
  else
    printf '{ %s }\n' "$opts" >"$tmp"
  fi
  # dockerd 23 and later check a file (--validate); an older one does not
  # know the flag, and then the merge's own care must do: the members go
  # right after the opening brace of what is a valid object, since dockerd
  # runs with it, and the keys were not there.
  if out=$($s "$(command -v dockerd || echo /usr/bin/dockerd)" --validate --config-file "$tmp" 2>&1); then
    out=
  else
    case $out in *'unknown flag'*) out= ;; esac
  fi
  if [ -n "$out" ]; then
    fail "log rotation: not set, the new $conf would not be valid: $out"
  elif $s mkdir -p /etc/docker && $s cp "$tmp" "$conf.berth-new" && $s chmod 644 "$conf.berth-new" &&
    $s mv -f "$conf.berth-new" "$conf"; then
    echo "log rotation: set in $conf (json-file, max-size 10m, max-file 5)"
    if [ -n "$installed" ] || [ -z "$(docker ps -q 2>/dev/null)" ]; then
      if command -v systemctl >/dev/null 2>&1 && $s systemctl restart docker >/dev/null 2>&1; then
        echo "log rotation: dockerd restarted (no container was running)"
      else
        echo "log rotation: applies to containers started after dockerd restarts"
      fi
    else
      echo "log rotation: applies to containers started after dockerd restarts (containers are running: not restarted now)"
    fi
  else
    fail "log rotation: cannot write $conf"
  fi
  rm -f "$tmp"
fi

# --- the deploy user
me=$(id -un)
myhome=$(cd && pwd)
if id "$user" >/dev/null 2>&1; then
  echo "user $user: there"
else
  # "*" and not "!": no password to log in with, yet not a locked account
  # (sshd refuses a locked one even with a key).
  if $s useradd -m -s /bin/bash "$user" && $s usermod -p '*' "$user"; then
    echo "user $user: made"
  else
    fail "user $user: cannot be made"
  fi
fi
if id "$user" >/dev/null 2>&1; then
  if id -nG "$user" | tr ' ' '\n' | grep -qx docker; then
    echo "user $user: in group docker"
  elif $s usermod -aG docker "$user"; then
    echo "user $user: added to group docker"
  else
    fail "user $user: cannot be added to group docker"
  fi
  uhome=$(getent passwd "$user" | cut -d: -f6)
  if [ "$user" = "$me" ] || [ -z "$uhome" ]; then
    :
  elif [ ! -s "$myhome/.ssh/authorized_keys" ]; then
    echo "user $user: no keys copied ($me has no ~/.ssh/authorized_keys)"
  else
    if $s test -s "$uhome/.ssh/authorized_keys"; then
      echo "user $user: has authorized keys"
    elif $s install -d -m 700 -o "$user" -g "$(id -gn "$user")" "$uhome/.ssh" &&
      $s install -m 600 -o "$user" -g "$(id -gn "$user")" "$myhome/.ssh/authorized_keys" "$uhome/.ssh/authorized_keys"; then
      echo "user $user: logs in with the keys of $me"
    else
      fail "user $user: cannot copy the keys of $me"
    fi
  fi
fi

# --- berth's run directory, for the ssh user and the deploy user
for who in "$me" "$user"; do
  h=$(getent passwd "$who" | cut -d: -f6)
  [ -n "$h" ] || continue
  case $rundir in
  /*) d=$rundir ;;
  *) d=$h/$rundir ;;
  esac
  if $s test -d "$d"; then
    echo "run directory $d: there"
  elif $s install -d -m 700 -o "$who" -g "$(id -gn "$who")" "$d"; then
    echo "run directory $d: made"
  else
    fail "run directory $d: cannot be made"
  fi
  case $rundir in /*) break ;; esac
done

# --- sshd password logins
if [ "$passwords" = off ]; then
  dropin=/etc/ssh/sshd_config.d/00-berth.conf
  want='# Written by berth server bootstrap --no-password-login: keys only.
PasswordAuthentication no
KbdInteractiveAuthentication no'
  if [ "$($s cat "$dropin" 2>/dev/null)" = "$want" ]; then
    echo "ssh password logins: off already ($dropin)"
  elif ! $s test -d /etc/ssh/sshd_config.d; then
    fail "ssh password logins: left on: /etc/ssh/sshd_config.d is missing (set PasswordAuthentication no by hand)"
  else
    printf '%s\n' "$want" | $s tee "$dropin.berth-new" >/dev/null && $s chmod 644 "$dropin.berth-new" &&
      $s mv -f "$dropin.berth-new" "$dropin"
    if ! $s "$(command -v sshd || echo /usr/sbin/sshd)" -T 2>/dev/null | grep -qx 'passwordauthentication no'; then
      $s rm -f "$dropin"
      fail "ssh password logins: left on: sshd does not read $dropin, or another file turns them on (see sshd -T)"
    else
      echo "ssh password logins: off ($dropin)"
      if command -v systemctl >/dev/null 2>&1 && $s systemctl reload ssh >/dev/null 2>&1; then
        echo "ssh password logins: sshd reloaded"
      elif [ -s /run/sshd.pid ] && $s kill -HUP "$(cat /run/sshd.pid)" 2>/dev/null; then
        echo "ssh password logins: sshd reloaded"
      else
        echo "ssh password logins: applies when sshd next starts"
      fi
    fi
  fi
fi
exit $rc
