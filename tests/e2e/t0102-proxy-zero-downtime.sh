#!/usr/bin/env bash
# The zero-downtime switch: requests keep flowing (short and long ones,
# uploads, on keep-alive connections, SSE streams held open across
# switches, WebSockets) while the service is deployed back and forth
# between two versions 20 times; none fails, every answer comes from a
# healthy version, every stream is whole, every WebSocket is closed only by
# the end of a drain; and a deploy to a version that never becomes healthy
# leaves the old one serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

WS=$TEST_TMP/wsclient
gcc -std=c11 -D_GNU_SOURCE -O2 -o "$WS" "$TOP/tests/fixtures/testapp/wsclient.c" || exit 1
start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
start_app v3 v3 --never-ready || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$v1_port >/dev/null || exit 1
head -c 200000 /dev/urandom >"$TEST_TMP/body"

start_load() {
	rm -f "$TEST_TMP/stop"
	load_loop load1 $P/ $P/ $P/ $P/ $P/ &
	load_loop load2 "$P/slow?ms=300" $P/ "$P/slow?ms=100" &
	load_loop load3 --data-binary @"$TEST_TMP/body" $P/echo $P/echo $P/echo &
	load_loop load4 $P/ &
}
stop_load() {
	touch "$TEST_TMP/stop"
	wait
}

# ws_loop: until $TEST_TMP/stop exists, holds a WebSocket open (echoing every 100 ms), and
# opens a new one whenever the proxy closes it; ws.N is the output of the Nth, ending in
# "exit STATUS", or "killed" for the one still open at the stop.
ws_loop() {
	local n=0 pid
	while [[ ! -e $TEST_TMP/stop ]]; do
		n=$((n + 1))
		"$WS" $px_port --hold 50 >ws.$n 2>&1 &
		pid=$!
		while kill -0 $pid 2>/dev/null && [[ ! -e $TEST_TMP/stop ]]; do sleep 0.05; done
		if kill -0 $pid 2>/dev/null; then
			kill $pid
			wait $pid
			echo killed >>ws.$n
		else
			wait $pid
			echo "exit $?" >>ws.$n
		fi
	done
}

test_expect_success 'nothing fails while the service switches versions 20 times' '
	start_load &&
	load_loop sse "$P/sse?n=25&ms=100" &
	ws_loop &
	sleep 0.5 &&
	for i in $(seq 20); do
		if ((i % 2)); then to=$v2_port; else to=$v1_port; fi
		"$PROXY" deploy web --target 127.0.0.1:$to --drain-timeout 1s \
			--health-check-interval 100ms >>deploys 2>&1 || exit 1
		sleep 0.3
	done &&
	stop_load &&
	cat deploys &&
	test "$(grep -c "^deployed " deploys)" = 20 &&
	for f in load1 load2 load3 load4 sse; do check_load $f "v1|v2" || exit 1; done &&
	grep -q "version=v1" load1 && grep -q "version=v2" load1 &&
	grep -q "slow ms=300 version=" load2 &&
	test "$(grep -c "^len=200000 " load3)" = "$(grep -c "^|" load3)" &&
	streams=$(grep -c "^|" sse) &&
	test "$(grep -c "^data: event 25 version=" sse)" = $streams &&
	test "$(grep -c "^data: event " sse)" = $((streams * 25)) &&
	for i in $(seq 25); do
		test "$(grep -c "^data: event $i version=" sse)" = $streams || exit 1
	done &&
	head -n 3 ws.* &&
	closed=$(grep -l "^exit 0" ws.* | wc -l) &&
	test $closed -ge 3 &&
	test "$(cat ws.* | grep -c "^closed after")" = $closed &&
	! grep -h "^exit [1-9]" ws.* &&
	! grep -h "^wsclient:" ws.* &&
	test "$(grep -c "^killed" ws.*  | grep -c ":1")" -le 1 &&
	tunnels=$(sed -n "s/^closed \([0-9]*\) tunnel.*/\1/p" deploys | paste -sd+ | bc) &&
	test "$tunnels" = $closed
'

test_expect_success 'in-flight requests finish on the version that took them' '
	v=$(curl -s -D - -o /dev/null $P/ | tr -d "\r" | sed -n "s/^X-App-Version: //p") &&
	(curl -s "$P/slow?ms=1500" >slow &) &&
	wait_for_line v$v.log "GET /slow" >/dev/null || true;
	sleep 0.3 &&
	if test $v = v1; then to=$v2_port; else to=$v1_port; fi &&
	"$PROXY" deploy web --target 127.0.0.1:$to >out &&
	cat out slow &&
	grep -q "1 old target(s) drained" out &&
	grep -q "slow ms=1500 version=$v" slow
'

test_expect_success 'a deploy to a never-ready version fails and the old one keeps serving' '
	v=$(curl -s -D - -o /dev/null $P/ | tr -d "\r" | sed -n "s/^X-App-Version: //p") &&
	start_load &&
	test_must_fail "$PROXY" deploy web --target 127.0.0.1:$v3_port --deploy-timeout 2s \
		--health-check-interval 200ms 2>err &&
	stop_load &&
	cat err &&
	grep -q "status 503" err &&
	for f in load1 load2 load4; do check_load $f "v1|v2" || exit 1; done &&
	! grep -h "version=v3" load1 load2 load3 load4 &&
	curl -sf $P/ | grep -q "version=$v"
'

test_done
