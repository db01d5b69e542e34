#!/usr/bin/env bash
# A service with several targets: round robin, active health checks that
# take an unhealthy target out and put it back, passive failures (a refused
# connection) and the retry of idempotent requests on another target, so
# that killing one target under load fails no GET.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app a a || exit 1
start_app b b || exit 1
start_app c c || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$a_port --target 127.0.0.1:$b_port \
	--target 127.0.0.1:$c_port --health-check-interval 200ms --health-check-timeout 1s \
	>/dev/null || exit 1

# versions N: the versions that answered N requests, counted ("COUNT VERSION" lines).
versions() {
	local i
	for ((i = 0; i < $1; i++)); do
		curl -s $P/ | sed -n "s/.*version=\([a-z]*\) .*/\1/p"
	done | sort | uniq -c
}

test_expect_success 'requests go round robin over the targets' '
	versions 30 >seen && cat seen &&
	test "$(wc -l <seen)" = 3 &&
	! awk "\$1 < 5" seen | grep .
'

test_expect_success 'an unhealthy target is taken out by the active checks and put back' '
	curl -sf "http://127.0.0.1:$b_port/control/ready?value=0" >/dev/null &&
	wait_for_line px.log "target .127.0.0.1:$b_port. of service .web. is out" &&
	versions 20 >seen && cat seen &&
	! grep -q " b$" seen &&
	curl -sf "http://127.0.0.1:$b_port/control/ready?value=1" >/dev/null &&
	wait_for_line px.log "target .127.0.0.1:$b_port. of service .web. is healthy again" &&
	versions 30 >seen && cat seen &&
	grep -q " b$" seen
'

test_expect_success 'a target killed under load fails no GET' '
	rm -f "$TEST_TMP/stop" &&
	load_loop load1 $P/ $P/ $P/ $P/ &
	load_loop load2 "$P/slow?ms=150" $P/ "$P/slow?ms=50" &
	load_loop load3 -I $P/ $P/ &
	load_loop load4 "$P/slow?ms=300" &
	while test "$(grep -c "^|" load1 2>/dev/null || echo 0)" -lt 20; do sleep 0.05; done &&
	kill -9 $c_pid &&
	sleep 2 &&
	touch "$TEST_TMP/stop" && wait &&
	check_load load1 "a|b|c" && check_load load2 "a|b|c" && check_load load4 "a|b|c" &&
	! grep -q curl-failed load3 && ! grep "^|" load3 | grep -v "^|200$" &&
	grep -q "^|200$" load3 &&
	grep -q "target .127.0.0.1:$c_port. .*is out" px.log &&
	tail -n 20 load1 | grep -q "version=" && ! tail -n 20 load1 | grep -q "version=c"
'

test_expect_success 'the killed target comes back when it answers again' '
	start_app c2 c --port $c_port &&
	wait_for_line px.log "target .127.0.0.1:$c_port. of service .web. is healthy again" &&
	versions 30 >seen && cat seen &&
	grep -q " c$" seen
'

# A service whose active checks are far apart: only passive failures see the target go.
start_app d d || exit 1
"$PROXY" deploy lazy --host lazy.test --target 127.0.0.1:$a_port --target 127.0.0.1:$d_port \
	--health-check-interval 60s >/dev/null || exit 1

test_expect_success 'requests whose connection is refused go to another target, POSTs too' '
	stop_pid $d_pid &&
	for i in 1 2 3 4 5 6; do
		curl -s -w "|%{http_code}\n" -H "Host: lazy.test" --data-binary hello $P/echo
		curl -s -w "|%{http_code}\n" -H "Host: lazy.test" $P/
	done >out &&
	cat out &&
	test "$(grep -c "^|200$" out)" = 12 &&
	grep -q "target .127.0.0.1:$d_port. is out: cannot connect" px.log
'

test_done
