#!/usr/bin/env bash
# berthd's process and runtime commands without a lab: ps:stop/start/rebuild,
# run, enter, checks:*, resource:*, storage:* check their arguments and
# rights, and keep what they set in the store (nothing is deployed here, so
# the commands that need a release say so).
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
export BERTHD_SSH_COMMAND=/home/berth/berthd-ssh
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND

bd() { "$BERTHD" "$@"; }
# as KEY 'COMMAND LINE': what sshd runs for a client of that key
as() { BERTHD_KEY=$1 SSH_ORIGINAL_COMMAND=$2 "$BERTHD" ssh; }

for k in admin1 deployer reader; do
	ssh-keygen -q -t ed25519 -N '' -C "$k@test" -f "$TEST_TMP/$k"
done

test_expect_success 'setup: keys, an app and grants' '
	bd ssh-keys:add admin1 <"$TEST_TMP/admin1.pub" &&
	bd ssh-keys:add --limited deployer <"$TEST_TMP/deployer.pub" &&
	bd ssh-keys:add --limited reader <"$TEST_TMP/reader.pub" &&
	bd apps:create shop >/dev/null &&
	bd ssh-keys:grant deployer shop deploy &&
	bd ssh-keys:grant reader shop read
'

test_expect_success 'help lists the new commands' '
	as admin1 help >"$TEST_TMP/help" &&
	for c in ps:stop ps:start ps:rebuild run enter checks:disable checks:enable \
		checks:set checks:report resource:limit resource:report resource:reset \
		storage:mount storage:unmount storage:list; do
		grep_q "$TEST_TMP/help" "^    $c " || exit 1
	done
'

test_expect_success 'ps:stop, ps:start, ps:rebuild and run need a release' '
	for c in ps:stop ps:start ps:rebuild; do
		test_must_fail as deployer "$c shop" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "^ !     shop has not been deployed" || exit 1
	done &&
	test_must_fail as deployer "run shop /bin/true" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "shop has not been deployed" &&
	set +e
	as admin1 "ps:stop nope" 2>/dev/null; rc1=$?
	as admin1 "run -e A=1 nope true" 2>/dev/null; rc2=$?
	set -e
	test $rc1 = 20 && test $rc2 = 20
'

test_expect_success 'run and enter check their arguments' '
	test_must_fail as admin1 "run shop" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: run" &&
	test_must_fail as admin1 "run -e NOEQUALS shop true" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid env .NOEQUALS.: expected KEY=VALUE" &&
	test_must_fail as admin1 "run --bogus shop true" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: run" &&
	test_must_fail as admin1 "enter shop web extra" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: enter"
'

test_expect_success 'a read key may report but not change, run or enter' '
	for c in "ps:stop shop" "ps:start shop" "ps:rebuild shop" "run shop true" \
		"enter shop" "checks:disable shop worker" "checks:enable shop" \
		"checks:set shop web /up" "resource:limit --memory 512m shop" \
		"resource:reset shop" "storage:mount shop /srv:/srv" \
		"storage:unmount shop /srv:/srv"; do
		test_must_fail as reader "$c" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "permission denied" || exit 1
	done &&
	as reader "checks:report shop" >/dev/null &&
	as reader "resource:report shop" >/dev/null &&
	as reader "storage:list shop" >/dev/null &&
	as reader "resource:report shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "Limits memory: +none"
'

test_expect_success 'resource:limit validates SIZE and N as Docker does, and keeps them' '
	for m in 5m 12x -1 1.5.5 1gg ""; do
		test_must_fail as deployer "resource:limit --memory '"'"'$m'"'"' shop" \
			2>"$TEST_TMP/err" || exit 1
	done &&
	grep_q "$TEST_TMP/err" "invalid memory size" &&
	test_must_fail as deployer "resource:limit --cpu 0 shop" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid cpu count .0." &&
	test_must_fail as deployer "resource:limit shop" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: resource:limit" &&
	as deployer "resource:report shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "Limits memory: +none" &&
	as deployer "resource:limit --memory 256m --cpu 0.5 shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "takes effect at the next deploy" &&
	as reader "resource:report shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "Limits memory: +256m" &&
	grep_q "$TEST_TMP/out" "Limits cpu: +0.5" &&
	test "$(as reader "--format json resource:report shop")" = "{\"memory\":\"256m\",\"cpu\":\"0.5\"}" &&
	as deployer "resource:limit --cpu 2 shop" >/dev/null &&
	test "$(bd --format json resource:report shop)" = "{\"memory\":\"256m\",\"cpu\":\"2\"}" &&
	as deployer "resource:reset shop" >/dev/null &&
	test "$(bd --format json resource:report shop)" = "{\"memory\":\"\",\"cpu\":\"\"}"
'

test_expect_success 'checks: web cannot be disabled; other types and the path are kept' '
	test_must_fail as deployer "checks:disable shop" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "web.s checks cannot be disabled: berth-proxy health-checks" &&
	test_must_fail as deployer "checks:disable shop worker,web" &&
	test_must_fail as deployer "checks:disable shop Bad!" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid process type" &&
	as deployer "checks:disable shop worker,clock" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "takes effect at the next deploy" &&
	as deployer "checks:disable shop worker" >/dev/null &&
	as reader "checks:report shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "Checks disabled list: +worker,clock$" &&
	as deployer "checks:enable shop worker" >/dev/null &&
	test "$(bd --format json checks:report shop)" = "{\"disabled\":\"clock\",\"web_path\":\"\"}" &&
	as deployer "checks:enable shop" >/dev/null &&
	test_must_fail as deployer "checks:set shop worker /up" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "only web has an HTTP check" &&
	test_must_fail as deployer "checks:set shop web health" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid check path" &&
	test_must_fail as deployer "checks:set shop web" &&
	as deployer "checks:set shop web /healthz" >/dev/null &&
	test "$(bd --format json checks:report shop)" = "{\"disabled\":\"\",\"web_path\":\"/healthz\"}"
'

test_expect_success 'storage: admin only, absolute paths without tricks, Dokku messages' '
	test_must_fail as deployer "storage:mount shop /srv/shop:/data" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied" &&
	for m in data:/data /data:data /a:/b:ro /a:/b,ro /a/../etc:/x /a:/b/.. /a; do
		test_must_fail as admin1 "storage:mount shop $m" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "invalid mount" || exit 1
	done &&
	as admin1 "storage:mount shop /srv/shop:/data" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "takes effect at the next deploy" &&
	test_must_fail as admin1 "storage:mount shop /srv/shop:/data" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^ !     Mount path already exists\.$" &&
	bd storage:mount shop /srv/logs:/logs >/dev/null &&
	as reader "storage:list shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^=====> shop volume bind-mounts:" &&
	grep_q "$TEST_TMP/out" "^     /srv/logs:/logs$" &&
	grep_q "$TEST_TMP/out" "^     /srv/shop:/data$" &&
	test "$(as reader "--format json storage:list shop")" = "[{\"host_path\":\"/srv/logs\",\"container_path\":\"/logs\"},{\"host_path\":\"/srv/shop\",\"container_path\":\"/data\"}]" &&
	as admin1 "storage:unmount shop /srv/logs:/logs" >/dev/null &&
	test_must_fail as admin1 "storage:unmount shop /srv/logs:/logs" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^ !     Mount path does not exist\.$"
'

test_expect_success 'events name what changed, and apps:destroy takes the settings with it' '
	bd events shop >"$TEST_TMP/events" &&
	grep_q "$TEST_TMP/events" "resource:limit" &&
	grep_q "$TEST_TMP/events" "storage:mount" &&
	grep_q "$TEST_TMP/events" "checks:set" &&
	! grep -q 256m "$TEST_TMP/events" &&
	bd resource:limit --memory 64m shop >/dev/null &&
	bd apps:destroy shop --force >/dev/null 2>&1 &&
	bd apps:create shop >/dev/null &&
	test "$(bd --format json resource:report shop)" = "{\"memory\":\"\",\"cpu\":\"\"}" &&
	test "$(bd --format json storage:list shop)" = "[]" &&
	test "$(bd --format json checks:report shop)" = "{\"disabled\":\"\",\"web_path\":\"\"}" &&
	bd apps:destroy shop --force >/dev/null 2>&1
'

test_done
