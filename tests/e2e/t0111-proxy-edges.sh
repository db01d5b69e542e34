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

test_done
