#!/usr/bin/env bash
# Edge cases of berth-proxy's data plane: header names that CGI-style
# folding would change, HTTP/1.0 clients of chunked responses, clients that
# hang up while their request is held by a pause, idle tunnels.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app v1 v1 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$v1_port --health-check-interval 100ms >/dev/null || exit 1

test_expect_success 'request headers with "_" in their names never reach the app' '
	curl -sf -H "X_Forwarded_For: 6.6.6.6" -H "X-Real_IP: 6.6.6.6" -H "_: x" \
		-H "X-Kept: yes" -H "X-Forwarded-For: 7.7.7.7" $P/headers >out &&
	cat out &&
	grep -qx "X-Kept: yes" out &&
	grep -qx "X-Forwarded-For: 127.0.0.1" out &&
	! grep -q "_" out &&
	! grep -q "6.6.6.6" out &&
	! grep -q "7.7.7.7" out
'

test_expect_success 'a client that hangs up while its request is held frees it' '
	"$PROXY" pause web --max-pause 30s >/dev/null &&
	before=$(app_requests v1) &&
	test_must_fail curl -s --max-time 1 $P/gone-1 &&
	test_must_fail curl -s --max-time 1 -X POST --data-binary hello $P/gone-2 &&
	for i in $(seq 100); do
		test "$(ss -Htn state close-wait "( sport = :$px_port )" | wc -l)" = 0 && break
		sleep 0.05
	done &&
	ss -Htn state close-wait "( sport = :$px_port )" >cw &&
	cat cw && test ! -s cw &&
	"$PROXY" resume web >/dev/null &&
	curl -sf $P/ | grep -q version=v1 &&
	sleep 0.5 &&
	cat v1.log &&
	test "$(app_requests v1)" = $((before + 1)) &&
	! grep -q "/gone" v1.log
'

test_done
