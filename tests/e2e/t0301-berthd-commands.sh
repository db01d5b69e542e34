#!/usr/bin/env bash
# berthd's command surface, run as sshd runs it (berthd ssh with BERTHD_KEY
# and SSH_ORIGINAL_COMMAND) and as root on the server (berthd CMD): rights,
# bad input, events without values, keys, both of Dokku's command forms, and
# a push through git's own ssh transport. Needs no lab: the state is a
# temporary directory and nothing is deployed.
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
export BERTHD_SSH_COMMAND=/home/berth/berthd-ssh
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND

bd() { "$BERTHD" "$@"; }
# as KEY 'COMMAND LINE': what sshd runs for a client of that key
as() { BERTHD_KEY=$1 SSH_ORIGINAL_COMMAND=$2 "$BERTHD" ssh; }

for k in admin1 deployer reader stranger; do
	ssh-keygen -q -t ed25519 -N '' -C "$k@test" -f "$TEST_TMP/$k"
done

test_expect_success 'serve creates the store and stops cleanly on SIGTERM' '
	"$BERTHD" serve >"$TEST_TMP/serve.out" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q serving "$TEST_TMP/serve.out" && break; sleep 0.1; done &&
	grep_q "$TEST_TMP/serve.out" "serving" &&
	test_cleanup "kill $pid" &&
	kill -TERM $pid && wait $pid &&
	test "$(stat -c %a "$BERTHD_STATE_DIR/berthd.db")" = 600
'

test_expect_success 'ssh-keys:add takes a key on stdin or from a file and writes authorized_keys' '
	bd ssh-keys:add admin1 <"$TEST_TMP/admin1.pub" &&
	bd ssh-keys:add --limited deployer "$TEST_TMP/deployer.pub" &&
	bd ssh-keys:add --limited reader <"$TEST_TMP/reader.pub" &&
	bd ssh-keys:add --limited stranger <"$TEST_TMP/stranger.pub" &&
	ak=$BERTHD_STATE_DIR/ssh/authorized_keys &&
	test "$(stat -c %a "$ak")" = 600 &&
	line=$(grep " admin1\$" "$ak") &&
	test "$line" = "command=\"/home/berth/berthd-ssh admin1\",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc $(cut -d" " -f1,2 "$TEST_TMP/admin1.pub") admin1" &&
	fp=$(ssh-keygen -lf "$TEST_TMP/admin1.pub" | cut -d" " -f2) &&
	bd ssh-keys:list >"$TEST_TMP/list" &&
	grep -qxF "$fp NAME=\"admin1\" RIGHTS=\"admin\"" "$TEST_TMP/list" &&
	grep_q "$TEST_TMP/list" " NAME=\"reader\" RIGHTS=\"\"$" &&
	bd ssh-keys:list --format json >"$TEST_TMP/list.json" &&
	grep_q "$TEST_TMP/list.json" "\"name\":\"reader\",\"fingerprint\":\"SHA256:[^\"]+\",\"admin\":false"
'

test_expect_success 'authorized_keys belongs to BERTHD_SSH_UID and _GID' '
	if test "$(id -u)" != 0; then echo "# not root: cannot chown"; exit 0; fi
	BERTHD_STATE_DIR=$TEST_TMP/owned BERTHD_SSH_UID=4321 BERTHD_SSH_GID=4322 \
		"$BERTHD" ssh-keys:add owned <"$TEST_TMP/admin1.pub" &&
	test "$(stat -c %u:%g:%a "$TEST_TMP/owned/ssh/authorized_keys")" = 4321:4322:600 &&
	test "$(stat -c %u:%g:%a "$TEST_TMP/owned/ssh")" = 4321:4322:700
'

test_expect_success 'a taken name, a key added twice or not a key is refused' '
	test_must_fail bd ssh-keys:add admin1 <"$TEST_TMP/reader.pub" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "key name .admin1. is already in use" &&
	test_must_fail bd ssh-keys:add other <"$TEST_TMP/admin1.pub" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "already added as .admin1." &&
	echo "ssh-ed25519 not-base64!" >"$TEST_TMP/bad.pub" &&
	test_must_fail bd ssh-keys:add other "$TEST_TMP/bad.pub" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^ !     " &&
	test_must_fail bd ssh-keys:add "bad;name" <"$TEST_TMP/reader.pub" &&
	test "$(grep -c berthd-ssh "$BERTHD_STATE_DIR/ssh/authorized_keys")" = 4
'

test_expect_success 'ssh-keys:* is for root alone, even for an admin key' '
	test_must_fail as admin1 "ssh-keys:list" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied" &&
	test_must_fail as admin1 "ssh-keys:grant admin1 web deploy" &&
	test_must_fail as nobody "version" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied"
'

test_expect_success 'apps:create and apps:list, in both command forms' '
	as admin1 "apps:create web" &&
	as admin1 "--app api apps:create" &&
	test_must_fail as admin1 "apps:create web" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "already exists" &&
	as admin1 "apps:list" >"$TEST_TMP/apps" &&
	grep_q "$TEST_TMP/apps" "^=====> My Apps" &&
	grep_q "$TEST_TMP/apps" "^api$" && grep_q "$TEST_TMP/apps" "^web$" &&
	test "$(as admin1 "--format json apps:list")" = "[\"api\",\"web\"]"
'

test_expect_success 'a missing app exits 20, an invalid name is refused' '
	set +e
	as admin1 "config:show nope" 2>"$TEST_TMP/err"; rc1=$?
	as admin1 "--app nope config:show" 2>/dev/null; rc2=$?
	bd ps:report nope 2>/dev/null; rc3=$?
	as admin1 "apps:exists nope" 2>/dev/null; rc4=$?
	set -e
	as admin1 "apps:exists web" &&
	test $rc1 = 20 && test $rc2 = 20 && test $rc3 = 20 && test $rc4 = 20 &&
	grep_q "$TEST_TMP/err" "^ !     App nope does not exist" &&
	test_must_fail as admin1 "apps:create Bad_Name" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid app name"
'

test_expect_success 'config values with shell metacharacters are stored byte for byte' '
	as admin1 "config:set web PLAIN=1 \"NASTY=\$(id); \`id\` | x > y && z '"'"'q'"'"'\" SPACE='"'"'a  b'"'"'" &&
	test "$(as admin1 "config:get web NASTY")" = "\$(id); \`id\` | x > y && z '"'"'q'"'"'" &&
	test "$(as admin1 "config:get web SPACE")" = "a  b" &&
	test "$(as admin1 "config:keys web" | tr "\n" " ")" = "NASTY PLAIN SPACE " &&
	bd config:set web "ROOT=\$HOME;*" &&
	test "$(bd config:get web ROOT)" = "\$HOME;*" &&
	as admin1 "--app web config:export" >"$TEST_TMP/export" &&
	grep_q "$TEST_TMP/export" "^export ROOT='"'"'\\\$HOME;\\*'"'"'$" &&
	bd config:set --encoded web "B64=$(printf "x=y z" | base64)" &&
	test "$(bd config:get web B64)" = "x=y z" &&
	bd config:export --format json web >"$TEST_TMP/export.json" &&
	grep_q "$TEST_TMP/export.json" "\"PLAIN\":\"1\"" &&
	bd config:unset --no-restart web B64 >/dev/null &&
	test_must_fail bd config:get web B64
'

test_expect_success 'config:set without = or with a value too long changes nothing' '
	bd config:show web >"$TEST_TMP/before" &&
	test_must_fail as admin1 "config:set web GOOD=2 NOEQUALS" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid env pair .NOEQUALS.: expected KEY=VALUE" &&
	big=$(head -c 100000 /dev/zero | tr "\0" x) &&
	test_must_fail bd config:set web GOOD=3 "BIG=$big" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "value of .BIG. is too long \(100000 bytes; at most 65536\)" &&
	test_must_fail bd config:set web "1BAD=x" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid config name" &&
	test_must_fail as admin1 "config:set web '"'"'A=unterminated" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "unterminated quote" &&
	bd config:show web >"$TEST_TMP/after" &&
	cmp "$TEST_TMP/before" "$TEST_TMP/after"
'

test_expect_success 'grants: read shows, deploy changes, nothing else reaches the app' '
	bd ssh-keys:grant reader web read &&
	bd ssh-keys:grant deployer web deploy &&
	bd ssh-keys:list deployer >"$TEST_TMP/list" &&
	grep_q "$TEST_TMP/list" " NAME=\"deployer\" RIGHTS=\"web:deploy\"$" &&
	as reader "config:show web" >/dev/null &&
	as reader "--app web releases" >/dev/null &&
	as reader "apps:list" >"$TEST_TMP/apps" &&
	grep_q "$TEST_TMP/apps" "^web$" && ! grep -q "^api$" "$TEST_TMP/apps" &&
	as deployer "config:set web DEPLOYER=1" >/dev/null &&
	test "$(bd config:get web DEPLOYER)" = 1 &&
	test_must_fail as stranger "config:show web" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied" &&
	test_must_fail as deployer "config:show api" &&
	test_must_fail as deployer "apps:create other" &&
	test_must_fail as reader "domains:set-global example.com"
'

test_expect_success 'a read key cannot config:set: permission denied, exit 1, nothing changed' '
	bd config:show web >"$TEST_TMP/before" &&
	bd events >"$TEST_TMP/ev-before" &&
	set +e
	as reader "config:set web PLAIN=changed" >"$TEST_TMP/out" 2>"$TEST_TMP/err"; rc=$?
	as reader "--app web config:unset PLAIN" 2>/dev/null; rc2=$?
	set -e
	test $rc = 1 && test $rc2 = 1 &&
	grep_q "$TEST_TMP/err" "^ !     permission denied" &&
	bd config:show web >"$TEST_TMP/after" &&
	cmp "$TEST_TMP/before" "$TEST_TMP/after" &&
	bd events >"$TEST_TMP/ev-after" &&
	cmp "$TEST_TMP/ev-before" "$TEST_TMP/ev-after"
'

test_expect_success 'events record who and which names, never a value' '
	as deployer "config:set web SECRET_TOKEN=hunter2-very-secret" >/dev/null &&
	bd events >"$TEST_TMP/events" &&
	grep_q "$TEST_TMP/events" " deployer web config:set SECRET_TOKEN$" &&
	! grep -q hunter2 "$TEST_TMP/events" &&
	as reader "events web" >"$TEST_TMP/events-reader" &&
	grep_q "$TEST_TMP/events-reader" "config:set SECRET_TOKEN" &&
	! grep -q " api " "$TEST_TMP/events-reader"
'

test_expect_success 'ssh-keys:grant, revoke and remove change what a key may do' '
	bd ssh-keys:revoke reader web &&
	test_must_fail as reader "config:show web" &&
	bd ssh-keys:grant reader admin &&
	as reader "config:show api" >/dev/null &&
	bd ssh-keys:revoke reader admin &&
	test_must_fail as reader "config:show api" &&
	fp=$(ssh-keygen -lf "$TEST_TMP/stranger.pub" | cut -d" " -f2) &&
	bd ssh-keys:remove --fingerprint "$fp" &&
	bd ssh-keys:remove reader &&
	test_must_fail bd ssh-keys:remove reader &&
	! grep -q " reader\$" "$BERTHD_STATE_DIR/ssh/authorized_keys" &&
	test_must_fail as reader "version" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied"
'

test_expect_success 'domains, the global domain and scale are kept' '
	as admin1 "domains:add web web.example.com WWW.Example.com" >/dev/null &&
	test_must_fail as admin1 "domains:add web bad_domain!" &&
	as admin1 "domains:set-global apps.example.net" >/dev/null &&
	as admin1 "domains:report web" >"$TEST_TMP/dom" &&
	grep_q "$TEST_TMP/dom" "Domains app vhosts: +web.example.com www.example.com$" &&
	grep_q "$TEST_TMP/dom" "Domains global vhosts: +apps.example.net$" &&
	as admin1 "domains:remove web web.example.com" >/dev/null &&
	as admin1 "domains:add api api.example.com" >/dev/null &&
	as admin1 "domains:clear api" >/dev/null &&
	as admin1 "domains:report api" >"$TEST_TMP/dom" &&
	grep_q "$TEST_TMP/dom" "Domains app vhosts: +\(APP.global domain\)$" &&
	as admin1 "ps:scale web web=2 worker=1" >/dev/null &&
	test_must_fail as admin1 "ps:scale web web=lots" &&
	as admin1 "ps:report web" >"$TEST_TMP/ps" &&
	grep_q "$TEST_TMP/ps" "Processes: +web=2 worker=1$" &&
	as admin1 "builder:set web dockerfile-path docker/Dockerfile.prod" >/dev/null &&
	test_must_fail as admin1 "builder:set web dockerfile-path ../etc/passwd" &&
	test_must_fail as admin1 "git:from-image web --help" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid image" &&
	test_must_fail as admin1 "git:from-image web '"'"'a b'"'"'" &&
	as admin1 "git:set web deploy-branch production" >/dev/null &&
	test_must_fail as admin1 "git:set web deploy-branch ../x" &&
	as admin1 "apps:report web" >"$TEST_TMP/report" &&
	grep_q "$TEST_TMP/report" "App dockerfile path: +docker/Dockerfile.prod$" &&
	grep_q "$TEST_TMP/report" "App deploy branch: +production$" &&
	as admin1 "git:set web deploy-branch" >/dev/null &&
	grep_q "$TEST_TMP/report" "App domains: +www.example.com$"
'

test_expect_success 'unknown commands and bad usage say so' '
	test_must_fail as admin1 "frobnicate web" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "is not a berthd command" &&
	test_must_fail as admin1 "serve" &&
	test_must_fail as admin1 "hook pre-receive" &&
	as admin1 "help" >"$TEST_TMP/help" &&
	grep_q "$TEST_TMP/help" "config:set" &&
	! grep -q "ssh-keys:add" "$TEST_TMP/help" &&
	test "$(as admin1 version)" = "$(bd version)" &&
	test_must_fail as admin1 "releases:rollback web" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "no earlier release" &&
	test_must_fail as admin1 "ps:restart web" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "web has not been deployed"
'

# git's ssh transport, with berthd ssh in the place of sshd's forced command
cat >"$TEST_TMP/fake-ssh" <<EOF
#!/bin/sh
shift
SSH_ORIGINAL_COMMAND="\$*" BERTHD_KEY="\$FAKE_KEY" exec "$BERTHD" ssh
EOF
chmod +x "$TEST_TMP/fake-ssh"
export GIT_SSH_COMMAND=$TEST_TMP/fake-ssh
git_q() { git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main "$@"; }

test_expect_success 'a push of another branch is taken, not deployed' '
	git_q init -q "$TEST_TMP/src" &&
	echo hello >"$TEST_TMP/src/README" &&
	git_q -C "$TEST_TMP/src" add README &&
	git_q -C "$TEST_TMP/src" commit -qm one &&
	FAKE_KEY=deployer git_q -C "$TEST_TMP/src" push berth@host:web main:feature 2>"$TEST_TMP/push" &&
	grep_q "$TEST_TMP/push" "refs/heads/feature is not the deploy branch" &&
	git --git-dir="$BERTHD_STATE_DIR/repos/web.git" rev-parse --verify -q refs/heads/feature &&
	test -x "$BERTHD_STATE_DIR/repos/web.git/hooks/pre-receive"
'

test_expect_success 'a push of the deploy branch that cannot be built is refused' '
	FAKE_KEY=deployer test_must_fail git_q -C "$TEST_TMP/src" push berth@host:web main \
		2>"$TEST_TMP/push" &&
	grep_q "$TEST_TMP/push" "remote: -----> Building web from" &&
	grep_q "$TEST_TMP/push" "remote:  !     " &&
	grep_q "$TEST_TMP/push" "pre-receive hook declined" &&
	! git --git-dir="$BERTHD_STATE_DIR/repos/web.git" rev-parse --verify -q refs/heads/main
'

test_expect_success 'pushing needs deploy; a first push by an admin creates the app' '
	bd ssh-keys:add --limited reader2 <"$TEST_TMP/reader.pub" &&
	bd ssh-keys:grant reader2 web read &&
	FAKE_KEY=reader2 test_must_fail git_q -C "$TEST_TMP/src" push berth@host:web main:other \
		2>"$TEST_TMP/push" &&
	grep_q "$TEST_TMP/push" "permission denied" &&
	FAKE_KEY=deployer test_must_fail git_q -C "$TEST_TMP/src" push berth@host:fresh main:x &&
	! bd apps:report fresh 2>/dev/null &&
	FAKE_KEY=admin1 git_q -C "$TEST_TMP/src" push berth@host:fresh main:x 2>"$TEST_TMP/push" &&
	grep_q "$TEST_TMP/push" "Creating fresh" &&
	bd apps:report fresh >/dev/null
'

test_expect_success 'a read key can fetch' '
	FAKE_KEY=reader2 git_q clone -q -b feature berth@host:web "$TEST_TMP/clone" &&
	test "$(cat "$TEST_TMP/clone/README")" = hello &&
	FAKE_KEY=reader2 test_must_fail git_q clone -q berth@host:api "$TEST_TMP/clone2"
'

test_expect_success 'apps:destroy asks for the name unless --force' '
	echo wrong | test_must_fail bd apps:destroy web 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "Confirmation did not match web" &&
	bd apps:report web >/dev/null &&
	echo web | as admin1 "apps:destroy web" >/dev/null 2>&1 &&
	! bd apps:report web 2>/dev/null &&
	test ! -e "$BERTHD_STATE_DIR/repos/web.git" &&
	test -z "$(bd config:export api)" &&
	as admin1 "apps:destroy api --force" >/dev/null &&
	as admin1 "apps:list" >"$TEST_TMP/apps" &&
	! grep -q "^api$" "$TEST_TMP/apps"
'

test_done
