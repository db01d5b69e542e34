# daemon-host.sh: the host's side of berthd, for `berth server bootstrap
# --daemon`; safe to run again.
#
#   sh -c SCRIPT berth-daemon USER HOME FORCED_COMMAND
#
# USER (berth) is made when missing: a system user with its own group, HOME
# as its home (owned by it, 0755) and /bin/sh as its shell (sshd runs the
# forced command through it), no password ("*": not a locked account, which
# sshd would refuse even with a key), in group docker (the forced command
# runs `docker exec`). ~USER/.ssh is made 0700, USER's: berthd writes
# authorized_keys there through a bind mount. FORCED_COMMAND (the text of
# daemon-ssh.sh) is written to ~USER/berthd-ssh with "#!/bin/sh" in front,
# root's, 0755, unless it is there as it should be. An existing user keeps
# the home it has.
#
# Root, or sudo without a password, is needed. Output: one line per item,
# saying what it found or changed, then "ids UID GID HOME" of USER.
# Exit: 0, or 1 when something could not be done (why on stderr).
set -u
user=$1
home=$2
text=$3
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
  echo "the ssh user is not root and has no sudo without a password: user $user and berthd are not set up" >&2
  exit 1
fi
getent group docker >/dev/null 2>&1 || { echo 'there is no group docker: is docker installed?' >&2; exit 1; }

# --- the user
if id "$user" >/dev/null 2>&1; then
  echo "user $user: there"
elif $s useradd --system --user-group --no-create-home --home-dir "$home" --shell /bin/sh "$user" &&
  $s usermod -p '*' "$user"; then
  echo "user $user: made"
else
  echo "user $user: cannot be made" >&2
  exit 1
fi
if id -nG "$user" | tr ' ' '\n' | grep -qx docker; then
  echo "user $user: in group docker"
elif $s usermod -aG docker "$user"; then
  echo "user $user: added to group docker"
else
  fail "user $user: cannot be added to group docker"
fi
uid=$(id -u "$user") && gid=$(id -g "$user") || exit 1
h=$(getent passwd "$user" | cut -d: -f6)
case $h in
/*) home=$h ;;
*) echo "user $user: has no home" >&2; exit 1 ;;
esac

# --- its home and ~/.ssh
for d in "$home:755" "$home/.ssh:700"; do
  mode=${d##*:}
  d=${d%:*}
  have=$($s stat -c '%a %u %g' "$d" 2>/dev/null) || have=
  if [ "$have" = "$mode $uid $gid" ]; then
    echo "directory $d: there"
  elif [ -z "$have" ] && $s install -d -m "$mode" -o "$uid" -g "$gid" "$d"; then
    echo "directory $d: made"
  elif [ -n "$have" ] && $s chown "$uid:$gid" "$d" && $s chmod "$mode" "$d"; then
    echo "directory $d: owner and mode set ($user, $mode)"
  else
    fail "directory $d: cannot be made"
  fi
done

# --- the forced command
f=$home/berthd-ssh
want=$(printf '#!/bin/sh\n%s' "$text")
if [ "$($s cat "$f" 2>/dev/null)" = "$want" ] && [ "$($s stat -c '%a %u' "$f" 2>/dev/null)" = '755 0' ]; then
  echo "forced command $f: there"
elif printf '%s\n' "$want" | $s tee "$f.berth-new" >/dev/null && $s chown 0:0 "$f.berth-new" &&
  $s chmod 755 "$f.berth-new" && $s mv -f "$f.berth-new" "$f"; then
  echo "forced command $f: written"
else
  $s rm -f "$f.berth-new"
  fail "forced command $f: cannot be written"
fi
echo "ids $uid $gid $home"
exit $rc
