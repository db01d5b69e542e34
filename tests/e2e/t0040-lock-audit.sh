#!/usr/bin/env bash
# The state berth keeps on the hosts: the deploy lock, the audit log and the
# release journal, over ssh to the lab's hosts.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
h1=${hosts[0]} h2=${hosts[1]}
# Each lab host has its own /run (the rest of the filesystem is shared), so a
# run directory there gives each host its own state, as separate servers have.
rd=/run/berth-$T
o=(--ssh-config "$LAB_SSH_CONFIG" --service "$T" --run-directory "$rd" -h "$h1")
o2=(--ssh-config "$LAB_SSH_CONFIG" --service "$T" --run-directory "$rd" -h "$h1,$h2")
me="$(id -un)@$(hostname)"
test_cleanup "'$BERTH' server exec -h '$h1,$h2' --ssh-config '$LAB_SSH_CONFIG' -- rm -rf '$rd'"

on_host() { # on_host HOST SCRIPT [ARG...]: runs sh -c SCRIPT on the host
	local h=$1
	shift
	"$BERTH" server exec -h "$h" --ssh-config "$LAB_SSH_CONFIG" -- sh -c "$@"
}

test_expect_success 'no lock at first' '
	"$BERTH" lock status "${o[@]}" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^deploy lock of .$T. on .$h1.: not held$" &&
	"$BERTH" lock status --json "${o[@]}" | jq -e ".held == false"
'

test_expect_success 'acquire takes the lock on the host' '
	"$BERTH" lock acquire -m "first lock" "${o2[@]}" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "acquired the deploy lock of .$T. on .$h1." &&
	on_host "$h1" "test -d \"\$0\"/apps/$T/lock && cat \"\$0\"/apps/$T/lock/holder.json" "$rd" \
		>"$TEST_TMP/holder" &&
	jq -e ".message == \"first lock\" and .holder == \"$me\" and .host == \"$h1\"" "$TEST_TMP/holder"
'

test_expect_success 'a second acquire fails and names the holder and the message' '
	test_must_fail "$BERTH" lock acquire -m "second" "${o[@]}" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "is held by $me on $h1 since .* ago\): first lock$"
'

test_expect_success 'status shows the holder, the message and the age' '
	"$BERTH" lock status "${o[@]}" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "held by $me on $h1 since [0-9TZ:-]+ \([0-9]+s ago\): first lock" &&
	"$BERTH" lock status --json "${o[@]}" >"$TEST_TMP/json" &&
	jq -e ".held and (.age | type) == \"number\" and .age >= 0 and .state == \"manual\" and (.stale | not)" \
		"$TEST_TMP/json"
'

test_expect_success '--lock-wait waits until the lock is released' '
	"$BERTH" lock acquire -m waiter --lock-wait 120 "${o[@]}" 2>"$TEST_TMP/wait.err" &
	waiter=$!
	# release only once the waiter says it waits, so that it must have waited
	i=0
	until grep -q "waiting up to 120 s" "$TEST_TMP/wait.err"; do
		i=$((i + 1)); test $i -lt 600 || { kill $waiter; exit 1; }; sleep 0.1
	done
	"$BERTH" lock release "${o[@]}" &&
	wait $waiter &&
	grep_q "$TEST_TMP/wait.err" "held by $me .*: first lock; waiting" &&
	"$BERTH" lock status --json "${o[@]}" | jq -e ".message == \"waiter\""
'

test_expect_success 'release removes the lock' '
	"$BERTH" lock release "${o[@]}" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "released the deploy lock of .$T. on .$h1. \(it was held by $me .*: waiter\)" &&
	"$BERTH" lock status --json "${o[@]}" | jq -e ".held == false" &&
	"$BERTH" lock release "${o[@]}" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "there is no deploy lock"
'

test_expect_success 'the global --lock-wait without a number waits up to 900 s' '
	"$BERTH" lock acquire -m holder "${o[@]}" &&
	"$BERTH" lock acquire --lock-wait -m bare "${o[@]}" 2>"$TEST_TMP/wait.err" &
	waiter=$!
	i=0
	until grep -q "waiting up to 900 s" "$TEST_TMP/wait.err"; do
		i=$((i + 1)); test $i -lt 600 || { kill $waiter; exit 1; }; sleep 0.1
	done
	"$BERTH" lock release "${o[@]}" &&
	wait $waiter &&
	"$BERTH" lock status --json "${o[@]}" | jq -e ".message == \"bare\""
'

test_expect_success '--lock-wait=N gives up after N s and says it waited' '
	start=$(date +%s) &&
	test_must_fail "$BERTH" lock acquire --lock-wait=2 -m late "${o[@]}" 2>"$TEST_TMP/err" &&
	end=$(date +%s) &&
	test $((end - start)) -ge 2 && test $((end - start)) -lt 15 &&
	grep_q "$TEST_TMP/err" "waited 2 s: the deploy lock of .$T. on .$h1. is held by $me .*: bare$" &&
	"$BERTH" lock release "${o[@]}"
'

test_expect_success 'waiting breaks a stale lock, as deploy does; without waiting it is refused' '
	sh -c "exit 0" & dead=$!; wait $dead
	holder=$(jq -cn --arg h "$me" --arg m "$(hostname)" --arg host "$h1" --argjson pid $dead \
		"{id:\"4567abcd\",holder:\$h,machine:\$m,host:\$host,pid:\$pid,time:\"2001-01-01T00:00:00Z\",epoch:978307200,message:\"crashed deploy\"}") &&
	on_host "$h1" "mkdir -p \"\$0/lock\" && printf %s \"\$1\" >\"\$0/lock/holder.json\"" \
		"$rd/apps/$T" "$holder" &&
	test_must_fail "$BERTH" lock acquire -m next "${o[@]}" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "crashed deploy" &&
	start=$(date +%s) &&
	"$BERTH" lock acquire --lock-wait=60 -m next "${o[@]}" 2>"$TEST_TMP/err" &&
	test $(($(date +%s) - start)) -lt 30 &&
	"$BERTH" lock status --json "${o[@]}" | jq -e ".message == \"next\" and (.stale | not)" &&
	"$BERTH" lock release "${o[@]}"
'

test_expect_success 'a lock whose process is gone is shown stale, and release breaks it' '
	sh -c "exit 0" & dead=$!; wait $dead
	holder=$(jq -cn --arg h "$me" --arg m "$(hostname)" --arg host "$h1" --argjson pid $dead \
		"{id:\"0123abcd\",holder:\$h,machine:\$m,host:\$host,pid:\$pid,time:\"2001-01-01T00:00:00Z\",epoch:978307200,message:\"killed deploy\"}") &&
	on_host "$h1" "mkdir -p \"\$0/lock\" && printf %s \"\$1\" >\"\$0/lock/holder.json\" && touch -d @\$((\$(date +%s) - 7300)) \"\$0/lock\"" \
		"$rd/apps/$T" "$holder" &&
	"$BERTH" lock status "${o[@]}" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "\(2h [0-9]+m ago\), pid $dead \(gone: the lock is stale\): killed deploy" &&
	grep_q "$TEST_TMP/out" "lock release. breaks it" &&
	"$BERTH" lock status --json "${o[@]}" | jq -e ".stale and .state == \"gone\" and .age >= 7300" &&
	test_must_fail "$BERTH" lock acquire -m next "${o[@]}" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "killed deploy" &&
	"$BERTH" lock release "${o[@]}" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "it was held by .*pid $dead \(gone" &&
	"$BERTH" lock status --json "${o[@]}" | jq -e ".held == false"
'

msg="it's \"quoted\"
\$(touch $TEST_TMP/pwned) \`touch $TEST_TMP/pwned\` ; | & \\ * ~ end"

test_expect_success 'a message with quotes, newlines and $() comes back exactly' '
	"$BERTH" lock acquire -m "$msg" "${o2[@]}" &&
	"$BERTH" lock status --json "${o[@]}" | jq -j .message >"$TEST_TMP/got" &&
	printf %s "$msg" >"$TEST_TMP/want" &&
	cmp "$TEST_TMP/want" "$TEST_TMP/got" &&
	"$BERTH" audit -n 1 --json "${o[@]}" | jq -j .message >"$TEST_TMP/got" &&
	printf "acquired the deploy lock: %s" "$msg" >"$TEST_TMP/want" &&
	cmp "$TEST_TMP/want" "$TEST_TMP/got" &&
	"$BERTH" lock status "${o[@]}" >"$TEST_TMP/out" &&
	test $(wc -l <"$TEST_TMP/out") -eq 1 &&
	test ! -e "$TEST_TMP/pwned" &&
	"$BERTH" lock release "${o2[@]}"
'

test_expect_success 'the audit log gets lines on every host' '
	"$BERTH" audit "${o2[@]}" >"$TEST_TMP/out" &&
	for h in "$h1" "$h2"; do
		grep_q "$TEST_TMP/out" "^$h +\| [0-9TZ:-]+ $me acquired the deploy lock: first lock$" &&
		grep_q "$TEST_TMP/out" "^$h +\| [0-9TZ:-]+ $me released the deploy lock held by $me$" || exit 1
	done &&
	"$BERTH" audit --json "${o2[@]}" >"$TEST_TMP/json" &&
	jq -se "map(select(.from == \"$h2\")) | length >= 3 and all(.host == \"$h2\")" "$TEST_TMP/json" &&
	on_host "$h2" "cat \"\$0\"/apps/$T/audit.log" "$rd" >"$TEST_TMP/h2log" &&
	! grep -q "\"host\":\"$h1\"" "$TEST_TMP/h2log"
'

test_expect_success 'the journal lists releases newest first, one per version' '
	for v in v1 v2 v1; do
		"$BERTH" releases record --role web --version $v --container "$T-web-$v" "${o2[@]}" || exit 1
	done &&
	"$BERTH" releases record --role web --version v3 --status failed "${o[@]}" &&
	"$BERTH" releases --json "${o[@]}" | jq -r .version | paste -sd" " >"$TEST_TMP/ok" &&
	test "$(cat "$TEST_TMP/ok")" = "v1 v2" &&
	"$BERTH" releases --all --json "${o[@]}" | jq -r .version | paste -sd" " >"$TEST_TMP/all" &&
	test "$(cat "$TEST_TMP/all")" = "v3 v1 v2" &&
	"$BERTH" releases --json -h "$h2" "${o[@]:0:6}" | jq -r .version | paste -sd" " >"$TEST_TMP/h2" &&
	test "$(cat "$TEST_TMP/h2")" = "v1 v2" &&
	"$BERTH" releases "${o[@]}" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^v1 +[0-9TZ:-]+ +web +ok +$T-web-v1$"
'

test_expect_success 'with a config/deploy.yml the lock lives on the primary role'"'"'s first host' '
	mkdir -p "$TEST_TMP/proj/config" &&
	cat >"$TEST_TMP/proj/config/deploy.yml" <<-YML &&
	service: $T
	image: $T/app
	builder:
	  arch: amd64
	servers:
	  web:
	    - $h2
	    - $h1
	ssh:
	  config: $LAB_SSH_CONFIG
	run_directory: $rd
	YML
	cd "$TEST_TMP/proj" &&
	"$BERTH" lock acquire -m from-config &&
	"$BERTH" lock status --json | jq -e ".lock_host == \"$h2\" and .message == \"from-config\"" &&
	"$BERTH" lock release &&
	"$BERTH" audit --json | jq -se "map(select(.message == \"acquired the deploy lock: from-config\")) | length == 2"
'

test_done
