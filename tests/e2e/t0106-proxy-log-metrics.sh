#!/usr/bin/env bash
# The access log (JSON lines, to a file or stdout, with chosen headers) and
# the Prometheus metrics (requests by service and status class, durations,
# requests in flight, upstream errors, target health).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app a a || exit 1
start_app b b || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" --access-log "$TEST_TMP/access.log" \
	--log-request-header User-Agent --log-request-header x-trace \
	--log-response-header Content-Type --metrics-port 0 || exit 1
P=http://127.0.0.1:$px_port
M=http://127.0.0.1:$(wait_for_line px.log 'metrics on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')/metrics
"$PROXY" deploy web --host web.test --target 127.0.0.1:$a_port --health-check-interval 200ms \
	>/dev/null || exit 1

# log_of ID: the access log line of the request with this X-Request-ID (waits for it).
log_of() {
	wait_for_line access.log "\"request_id\":\"$1\".*" >/dev/null &&
		grep -m1 "\"request_id\":\"$1\"" access.log
}
# metric NAME_AND_LABELS: its value in a scrape (0 when absent).
metric() {
	curl -sf $M >scrape && awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' scrape
}

test_expect_success 'each request is one JSON line with what happened' '
	curl -s -H "Host: web.test" -H "X-Request-ID: req-1" -H "User-Agent: tester/1" \
		-H "X-Trace: t1" -w "%{size_header} %{size_download}\n" -o /dev/null \
		"$P/slow?ms=300" >sizes &&
	log_of req-1 >line && cat line &&
	jq -e ". as \$l | \$l.service == \"web\" and \$l.method == \"GET\" and
		\$l.host == \"web.test\" and \$l.path == \"/slow\" and \$l.query == \"ms=300\" and
		\$l.status == 200 and \$l.client_addr == \"127.0.0.1\" and
		\$l.target == \"127.0.0.1:$a_port\" and \$l.duration_ms >= 300 and
		\$l.req_user_agent == \"tester/1\" and \$l.req_x_trace == \"t1\" and
		\$l.resp_content_type == \"text/plain\" and (\$l.time | test(\"^[0-9-]+T[0-9:.]+Z$\"))" line &&
	read h d <sizes &&
	jq -e ".bytes_out == $((h + d))" line
'

test_expect_success 'the request id is the one the app saw; bytes in count the body' '
	head -c 5000 /dev/zero >body &&
	curl -s -H "Host: web.test" --data-binary @body $P/echo >/dev/null &&
	curl -s -H "Host: web.test" $P/headers >hdrs &&
	id=$(sed -n "s/^X-Request-ID: //p" hdrs | tr -d "\r") &&
	test ${#id} = 32 &&
	log_of $id | jq -e ".path == \"/headers\"" &&
	wait_for_line access.log "\"path\":\"/echo\".*" >/dev/null &&
	grep "\"path\":\"/echo\"" access.log | jq -e ".method == \"POST\" and .bytes_in > 5000"
'

test_expect_success 'answers of our own are logged too (no service: 404)' '
	curl -s -o /dev/null -H "Host: nowhere.test" -H "X-Request-ID: lost-1" $P/x &&
	log_of lost-1 | jq -e ".status == 404 and .service == \"\" and .target == \"\""
'

test_expect_success 'metrics count requests by service and status class, with durations' '
	ok0=$(metric "berth_proxy_requests_total{service=\"web\",code=\"2xx\"}") &&
	err0=$(metric "berth_proxy_requests_total{service=\"web\",code=\"5xx\"}") &&
	n0=$(metric "berth_proxy_request_duration_seconds_count{service=\"web\"}") &&
	for i in 1 2 3 4 5; do curl -sf -H "Host: web.test" $P/ >/dev/null; done &&
	curl -s -o /dev/null -H "Host: web.test" "$P/status?code=503" &&
	curl -s -o /dev/null -H "Host: web.test" "$P/status?code=502" &&
	test "$(metric "berth_proxy_requests_total{service=\"web\",code=\"2xx\"}")" = $((ok0 + 5)) &&
	test "$(metric "berth_proxy_requests_total{service=\"web\",code=\"5xx\"}")" = $((err0 + 2)) &&
	test "$(metric "berth_proxy_request_duration_seconds_count{service=\"web\"}")" = $((n0 + 7)) &&
	grep -q "^berth_proxy_request_duration_seconds_bucket{service=\"web\",le=\"+Inf\"} $((n0 + 7))$" scrape &&
	test "$(metric "berth_proxy_upstream_errors_total{service=\"web\"}")" = 0
'

test_expect_success 'a request in flight shows in the gauge' '
	(curl -s -H "Host: web.test" "$P/slow?ms=1500" >/dev/null &) &&
	for i in $(seq 100); do
		test "$(metric "berth_proxy_requests_in_flight{service=\"web\"}")" = 1 && break
		sleep 0.02
	done &&
	test "$(metric "berth_proxy_requests_in_flight{service=\"web\"}")" = 1
'

test_expect_success 'target health and upstream errors' '
	"$PROXY" deploy web --host web.test --target 127.0.0.1:$a_port \
		--target 127.0.0.1:$b_port --health-check-interval 200ms >/dev/null &&
	test "$(metric "berth_proxy_target_healthy{service=\"web\",target=\"127.0.0.1:$b_port\"}")" = 1 &&
	curl -sf "http://127.0.0.1:$b_port/control/ready?value=0" >/dev/null &&
	wait_for_line px.log "target .127.0.0.1:$b_port. of service .web. is out" &&
	test "$(metric "berth_proxy_target_healthy{service=\"web\",target=\"127.0.0.1:$b_port\"}")" = 0 &&
	"$PROXY" deploy dead --host dead.test --target 127.0.0.1:$a_port >/dev/null &&
	e0=$(metric "berth_proxy_upstream_errors_total{service=\"dead\"}") &&
	stop_pid $a_pid &&
	test $(curl -s -o /dev/null -w "%{http_code}" -H "Host: dead.test" $P/) = 502 &&
	test "$(metric "berth_proxy_upstream_errors_total{service=\"dead\"}")" -gt "$e0" &&
	test "$(metric "berth_proxy_requests_total{service=\"dead\",code=\"5xx\"}")" -ge 1
'

test_expect_success 'the access log can go to stdout' '
	start_app c c &&
	start_proxy out --workers 1 --target 127.0.0.1:$c_port --access-log - &&
	curl -sf -H "X-Request-ID: to-stdout" http://127.0.0.1:$out_port/ >/dev/null &&
	wait_for_line out.log "\"request_id\":\"to-stdout\".*" >line &&
	grep "\"request_id\":\"to-stdout\"" out.log | jq -e ".status == 200 and .service == \"default\""
'

test_expect_success 'berth-proxy metrics prints the text through the control socket, no metrics port needed' '
	start_app d d &&
	start_proxy nm --workers 2 --state-dir "$TEST_TMP/nm-state" --socket "$TEST_TMP/nm.sock" &&
	! grep -q "metrics on" nm.log &&
	"$PROXY" deploy nmweb --socket "$TEST_TMP/nm.sock" --host nm.test \
		--target 127.0.0.1:$d_port >/dev/null &&
	for i in 1 2 3; do curl -sf -H "Host: nm.test" http://127.0.0.1:$nm_port/ >/dev/null; done &&
	curl -s -o /dev/null -H "Host: nm.test" "http://127.0.0.1:$nm_port/status?code=500" &&
	"$PROXY" metrics --socket "$TEST_TMP/nm.sock" >ctl-scrape &&
	grep -qx "berth_proxy_requests_total{service=\"nmweb\",code=\"2xx\"} 3" ctl-scrape &&
	grep -qx "berth_proxy_requests_total{service=\"nmweb\",code=\"5xx\"} 1" ctl-scrape &&
	grep -qx "berth_proxy_request_duration_seconds_count{service=\"nmweb\"} 4" ctl-scrape &&
	grep -q "^# TYPE berth_proxy_requests_total counter$" ctl-scrape
'

test_expect_success 'berth-proxy metrics is the metrics port'"'"'s text (the same metrics, described alike)' '
	curl -sf $M >port-scrape &&
	grep "^#" ctl-scrape >a &&
	grep "^#" port-scrape >b &&
	test -s a &&
	diff -u b a
'

test_expect_success 'berth-proxy metrics takes no argument' '
	test_must_fail "$PROXY" metrics --socket "$TEST_TMP/nm.sock" extra 2>err &&
	grep "usage: berth-proxy metrics" err
'

test_done
