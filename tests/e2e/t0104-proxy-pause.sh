#!/usr/bin/env bash
# pause, resume and stop: a paused service holds new requests (up to the
# max pause, then 504) and releases them on resume or on the next deploy; a
# stopped service answers 503 with its message; both survive a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$v1_port --health-check-interval 100ms >/dev/null || exit 1

# held N PREFIX: starts N requests in the background, each writing PREFIX.I ("body|code").
held() {
	local i
	for ((i = 1; i <= $1; i++)); do
		(curl -s --max-time 30 -w "|%{http_code}\n" $P/ >"$2.$i" 2>&1 || echo "curl-failed $?" >>"$2.$i") &
	done
}
# all_done N PREFIX: waits (up to 10 s) until every request answered.
all_done() {
	local i j
	for ((j = 0; j < 200; j++)); do
		for ((i = 1; i <= $1; i++)); do
			grep -q "|" "$2.$i" 2>/dev/null || break
		done
		((i > $1)) && return 0
		sleep 0.05
	done
	return 1
}

test_expect_success 'requests sent during a pause complete after resume with 200' '
	"$PROXY" pause web --drain-timeout 5s >out &&
	grep -q "paused .web." out &&
	before=$(app_requests v1) &&
	held 3 p &&
	sleep 0.5 &&
	cat p.1 p.2 p.3 >none && test ! -s none &&
	test "$(app_requests v1)" = "$before" &&
	"$PROXY" list | grep -q "^web .* paused " &&
	"$PROXY" resume web &&
	all_done 3 p &&
	cat p.1 p.2 p.3 &&
	test "$(cat p.1 p.2 p.3 | grep -c "^|200$")" = 3 &&
	test "$(cat p.1 p.2 p.3 | grep -c "version=v1")" = 3 &&
	"$PROXY" list | grep -q "^web .* running "
'

test_expect_success 'a deploy while paused releases held requests to the new version' '
	"$PROXY" pause web >/dev/null &&
	held 3 d &&
	sleep 0.3 &&
	cat d.1 d.2 d.3 >none && test ! -s none &&
	"$PROXY" deploy web --target 127.0.0.1:$v2_port --health-check-interval 100ms \
		--drain-timeout 5s >/dev/null &&
	all_done 3 d &&
	cat d.1 d.2 d.3 &&
	test "$(cat d.1 d.2 d.3 | grep -c "^|200$")" = 3 &&
	test "$(cat d.1 d.2 d.3 | grep -c "version=v2")" = 3
'

test_expect_success 'a request held longer than --max-pause gets 504' '
	"$PROXY" pause web --max-pause 1s >/dev/null &&
	test $(curl -s -o /dev/null -w "%{http_code}" --max-time 20 $P/) = 504 &&
	"$PROXY" resume web >/dev/null &&
	curl -sf $P/ | grep -q version=v2
'

test_expect_success 'stop answers 503 with the message until resume' '
	"$PROXY" stop web --message "Back at noon: upgrading the database" >out &&
	grep -q "stopped .web." out &&
	curl -s -D hdr $P/some/page >body &&
	grep -q "^HTTP/1.1 503 " hdr &&
	grep -qx "Back at noon: upgrading the database" body &&
	"$PROXY" list | grep -q "^web .* stopped " &&
	"$PROXY" resume web &&
	curl -sf $P/ | grep -q version=v2
'

test_expect_success 'stop without a message answers a plain 503; a deploy ends the stop' '
	"$PROXY" stop web >/dev/null &&
	test $(curl -s -o /dev/null -w "%{http_code}" $P/) = 503 &&
	"$PROXY" deploy web --target 127.0.0.1:$v1_port --health-check-interval 100ms \
		--drain-timeout 1s >/dev/null &&
	curl -sf $P/ | grep -q version=v1
'

test_expect_success 'pause and stop of an unknown service fail' '
	test_must_fail "$PROXY" pause nope 2>err && grep -q "no service .nope." err &&
	test_must_fail "$PROXY" stop nope 2>err && grep -q "no service .nope." err &&
	test_must_fail "$PROXY" pause web --max-pause soon 2>err && grep -q "max-pause" err
'

test_expect_success 'a stopped and a paused service stay so across a restart' '
	"$PROXY" deploy other --host other.test --target 127.0.0.1:$v2_port \
		--health-check-interval 100ms >/dev/null &&
	"$PROXY" stop web --message "maintenance" >/dev/null &&
	"$PROXY" pause other --max-pause 1s >/dev/null &&
	jq -e ".services[] | select(.name == \"web\") | .state == \"stopped\" and .stop_message == \"maintenance\"" state/berth-proxy.json &&
	stop_pid $px_pid &&
	start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state" &&
	wait_for_line px2.log "service .other. restored" &&
	wait_for_line px2.log "service .web. restored" &&
	Q=http://127.0.0.1:$px2_port &&
	curl -s $Q/ >body && grep -qx maintenance body &&
	test $(curl -s -o /dev/null -w "%{http_code}" -H "Host: other.test" $Q/) = 504 &&
	"$PROXY" resume web && "$PROXY" resume other &&
	curl -sf $Q/ | grep -q version=v1 &&
	curl -sf -H "Host: other.test" $Q/ | grep -q version=v2
'

test_done
