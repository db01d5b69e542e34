#!/usr/bin/env bash
# A restart of berth-proxy (SIGTERM or SIGKILL) in the middle of load keeps
# every route: hosts, path prefixes, several targets, a paused and a stopped
# service, a rollout. Restored targets serve only once a health check has
# passed; one that is down at restart gets no request until it is healthy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
start_app v3 v3 || exit 1
start_app v4 v4 || exit 1
start_app late late || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
PORT=$px_port
P=http://127.0.0.1:$PORT
dep() { "$PROXY" deploy "$@" --health-check-interval 100ms >/dev/null; }
dep web --target 127.0.0.1:$v1_port || exit 1
dep api --host api.test --path-prefix /api --target 127.0.0.1:$v2_port || exit 1
dep blog --host blog.test --target 127.0.0.1:$v1_port --target 127.0.0.1:$v4_port || exit 1
dep held --host held.test --target 127.0.0.1:$v2_port || exit 1
dep gone --host gone.test --target 127.0.0.1:$v3_port || exit 1
dep ro --host ro.test --target 127.0.0.1:$v1_port || exit 1
dep late --host late.test --target 127.0.0.1:$late_port --deploy-timeout 2s || exit 1
"$PROXY" pause held --max-pause 30s >/dev/null || exit 1
"$PROXY" stop gone --message "closed for now" >/dev/null || exit 1
"$PROXY" rollout deploy ro --target 127.0.0.1:$v3_port >/dev/null || exit 1
"$PROXY" rollout set ro --percent 100 >/dev/null || exit 1

# ver [CURL ARGS...]: the version that answers.
ver() { curl -s --max-time 5 "$@" | sed -n "s/.*version=\([a-z0-9]*\).*/\1/p"; }

# routes_answer: every route answers as it did before the restart.
routes_answer() {
	test "$(ver $P/)" = v1 &&
	test "$(ver -H "Host: api.test" $P/api/)" = v2 &&
	test "$(ver -H "Host: api.test" $P/)" = v1 &&
	for i in 1 2 3 4 5 6; do ver -H "Host: blog.test" $P/; done >blog &&
	grep -qx v1 blog && grep -qx v4 blog &&
	test "$(curl -s -o body -w "%{http_code}" -H "Host: gone.test" $P/)" = 503 &&
	grep -qx "closed for now" body &&
	test "$(ver -H "Host: ro.test" -b "kamal-rollout=x" $P/)" = v3 &&
	test "$(ver -H "Host: ro.test" $P/)" = v1 &&
	test_must_fail curl -s --max-time 1 -H "Host: held.test" $P/ &&
	"$PROXY" list >list &&
	grep -q "^held .* paused " list && grep -q "^gone .* stopped " list
}

# restart SIGNAL NAME: kills the proxy with SIGNAL under load and starts NAME on the same
# port and state; waits until it says the services are restored.
restart() {
	local pid lpid rc
	pid=$(cat px.pid)
	rm -f "$TEST_TMP/stop"
	load_loop load $P/ -H "Host: blog.test" $P/ &
	lpid=$!
	sleep 0.3
	kill -s "$1" "$pid"
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	! kill -0 "$pid" 2>/dev/null &&
	# Requests the old proxy had sent may still be logged by the apps.
	sleep 0.3 &&
	wc -l <late.log >late.before &&
	wc -l <v1.log >v1.before &&
	start_proxy "$2" --workers 2 --state-dir "$TEST_TMP/state" --http-port $PORT &&
	eval "echo \$${2}_pid" >px.pid &&
	wait_for_line "$2.log" "service .web. restored" >/dev/null &&
	wait_for_line "$2.log" "service .ro. restored" >/dev/null
	rc=$?
	touch "$TEST_TMP/stop"
	wait $lpid
	return $rc
}
echo $px_pid >"$TEST_TMP/px.pid"

test_expect_success 'the routes answer before the restart' '
	routes_answer
'

test_expect_success 'after SIGTERM under load, a new proxy on the same state keeps every route' '
	curl -sf "127.0.0.1:$late_port/control/ready?value=0" >/dev/null &&
	restart TERM px2 &&
	grep -q "^|200$" load &&
	routes_answer
'

test_expect_success 'a target that is down at restart gets no request until it is healthy' '
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: late.test" $P/)" = 503 &&
	tail -n +$(($(cat late.before) + 1)) late.log >after &&
	cat after &&
	grep -q "GET /up 503" after &&
	! grep -q "GET / " after &&
	wait_for_line px2.log "service .late. restored, but target .127.0.0.1:$late_port. is not healthy yet" &&
	curl -sf "127.0.0.1:$late_port/control/ready?value=1" >/dev/null &&
	for i in $(seq 100); do
		test "$(ver -H "Host: late.test" $P/)" = late && break
		sleep 0.05
	done &&
	test "$(ver -H "Host: late.test" $P/)" = late
'

test_expect_success 'restored targets are checked before they take a request' '
	restart KILL px3 &&
	routes_answer &&
	tail -n +$(($(cat v1.before) + 1)) v1.log | grep -E "^GET " | head -1 >first &&
	cat first &&
	grep -q "^GET /up 200" first
'

test_done
