#!/usr/bin/env bash
# berth server bootstrap on a lab host (each has its own /etc and /home, as a
# server does): log rotation merged into dockerd's daemon.json, a deploy user
# in group docker who logs in and uses docker, berth's run directory, sshd's
# password logins off on request; a second run changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

u=bt$$
conf=/etc/docker/daemon.json
dropin=/etc/ssh/sshd_config.d/00-berth.conf
# Users and sshd settings made here must not reach this machine.
if ! on $h1 test -f /etc/berth-lab-host || test -f /etc/berth-lab-host; then
	echo "Bail out! $h1 has no /etc of its own: tests/e2e/lab/lab up makes it again"
	exit 1
fi
test_cleanup "on $h1 'userdel -r $u 2>/dev/null; rm -f $conf $dropin'"
write_config

test_expect_success 'a lab host has its own /etc: what bootstrap changes stays there' '
	on $h1 test -d /etc/ssh/sshd_config.d &&
	! getent passwd $u && on $h1 "! getent passwd $u" &&
	on $h1 "rm -f $conf $dropin && printf \"{\\\"labels\\\": [\\\"berth-e2e=1\\\"]}\\n\" >$conf"
'

test_expect_success 'a user name that is not one is refused before any host is touched' '
	rc=0 && berth server bootstrap -h $h1 --user "Root;x" 2>err || rc=$?
	test $rc = 2 &&
	grep -q "is not a user name" err && on $h1 "! getent passwd Root"
'

test_expect_success 'bootstrap: log rotation, the deploy user, the run directory, keys-only sshd' '
	berth server bootstrap -h $h1 --user $u --no-password-login >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "docker is there" out &&
	grep -q "log rotation: set in $conf (json-file, max-size 10m, max-file 5)" out &&
	grep -q "user $u: made" out && grep -q "user $u: added to group docker" out &&
	grep -q "run directory $RUN_DIR: made" out &&
	grep -q "ssh password logins: off ($dropin)" out &&
	on $h1 cat $conf >conf.json &&
	jq -e ".\"log-driver\" == \"json-file\" and .\"log-opts\".\"max-size\" == \"10m\" and .\"log-opts\".\"max-file\" == \"5\" and .labels == [\"berth-e2e=1\"]" conf.json &&
	on $h1 id -nG $u | tr " " "\n" | grep -qx docker &&
	test "$(on $h1 stat -c %a $RUN_DIR)" = 700 &&
	on $h1 sshd -T >sshd-t && grep -qx "passwordauthentication no" sshd-t &&
	grep -qx "kbdinteractiveauthentication no" sshd-t &&
	! getent passwd $u && ! test -e $dropin
'

test_expect_success 'the deploy user logs in with a key and uses docker' '
	ssh -F "$LAB_SSH_CONFIG" -l $u $h1 "id -un; docker version --format {{.Server.Version}}" >out &&
	test "$(head -n1 out)" = $u && test -n "$(sed -n 2p out)"
'

test_expect_success 'a second run finds everything done and changes nothing' '
	on $h1 sha256sum $conf $dropin >before &&
	berth server bootstrap -h $h1 --user $u --no-password-login >out 2>&1 || { cat out; exit 1; }
	grep -q "log rotation: $conf sets the log driver or options already; left as it is" out &&
	grep -q "user $u: there" out && grep -q "user $u: in group docker" out &&
	grep -q "run directory $RUN_DIR: there" out &&
	grep -q "ssh password logins: off already" out &&
	! grep -q "made\|set in\|added" out &&
	on $h1 sha256sum $conf $dropin >after && cmp before after
'

test_expect_success 'without --no-password-login sshd is left alone' '
	on $h1 rm -f $dropin &&
	berth server bootstrap -h $h1 --user $u >out 2>&1 &&
	! grep -q "password logins" out && on $h1 "! test -e $dropin"
'

test_done
