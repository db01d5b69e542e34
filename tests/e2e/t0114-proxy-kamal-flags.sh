#!/usr/bin/env bash
# berth-proxy deploy and run flags that follow kamal-proxy's: --force (no
# health checks), --take-over, --canonical-host, --read-target with
# --read-target-websockets and --writer-affinity-timeout, --health-check-port
# and --health-check-host, --buffer-responses with --buffer-memory and
# --max-response-body, per-service --log-request-header and
# --log-response-header, --client-ip-header, --exclude-metrics-path,
# --scope-cookie-paths; ls and rm; run --debug. Each is checked by what it
# does, shows in `list --json` and survives a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app a v1 || exit 1
start_app b v2 || exit 1
start_app c v3 || exit 1
start_app never v9 --never-ready || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
mkdir -p "$TEST_TMP/spool"
TMPDIR=$TEST_TMP/spool start_proxy px --workers 1 --state-dir "$TEST_TMP/state" --debug \
	--access-log "$TEST_TMP/access.log" --metrics-port 0 || exit 1
P=http://127.0.0.1:$px_port
M=http://127.0.0.1:$(wait_for_line px.log 'metrics on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')/metrics
HC="--health-check-interval 100ms"

svc_json() {
	"$PROXY" list --json | jq -e ".[] | select(.name == \"$1\")"
}
version() {
	grep -o "version=v[0-9]" | head -1
}
metric() {
	curl -sf $M >scrape && awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' scrape
}

test_expect_success 'ls and rm are list and remove; run --debug logs at debug level' '
	"$PROXY" deploy tmp --target 127.0.0.1:$a_port --host tmp.test $HC >/dev/null &&
	"$PROXY" ls | grep -q "^tmp " &&
	"$PROXY" ls --json | jq -e "map(.name) | index(\"tmp\") != null" &&
	"$PROXY" rm tmp >out && grep -q "removed .tmp." out &&
	test_must_fail svc_json tmp &&
	wait_for_line px.log "debug: control command .remove." &&
	test_must_fail "$PROXY" run --debug=maybe --http-port 0 2>err
'

test_expect_success '--force switches without health checks; without it the deploy fails' '
	test_must_fail "$PROXY" deploy nr --target 127.0.0.1:$never_port --host nr.test \
		--deploy-timeout 300ms $HC 2>err &&
	grep -q "did not become healthy" err &&
	test_must_fail svc_json nr &&
	"$PROXY" deploy nr --target 127.0.0.1:$never_port --host nr.test --force $HC >/dev/null &&
	test "$(curl -s -H "Host: nr.test" $P/ | version)" = version=v9 &&
	"$PROXY" rm nr >/dev/null
'

test_expect_success '--take-over is the flag that takes a route; --force alone does not' '
	"$PROXY" deploy own --target 127.0.0.1:$a_port --host own.test $HC >/dev/null &&
	test_must_fail "$PROXY" deploy take --target 127.0.0.1:$b_port --host own.test \
		--force 2>err &&
	grep -q "deploy --take-over" err &&
	"$PROXY" deploy take --target 127.0.0.1:$b_port --host own.test --take-over $HC >/dev/null &&
	test "$(curl -s -H "Host: own.test" $P/ | version)" = version=v2 &&
	"$PROXY" rm take >/dev/null
'

test_expect_success '--canonical-host must be one of --host' '
	test_must_fail "$PROXY" deploy can --target 127.0.0.1:$a_port --host a.test \
		--canonical-host b.test $HC 2>err &&
	cat err && grep -q "canonical-host.*one of the --host names (a.test), got .b.test." err &&
	test_must_fail "$PROXY" deploy can --target 127.0.0.1:$a_port --host a.test \
		--canonical-host "a.test:80" $HC 2>err &&
	grep -q "option .--canonical-host. expects a host name" err
'

test_expect_success '--canonical-host: other hosts get 301 to it, path and query kept' '
	"$PROXY" deploy can --target 127.0.0.1:$a_port --host example.test,www.example.test \
		--canonical-host example.test $HC >/dev/null &&
	curl -s -o body -D h -H "Host: www.example.test:8080" "$P/a/b?x=1&y=2" &&
	cat h &&
	head -1 h | grep -q "^HTTP/1.1 301" &&
	grep -qix "Location: http://example.test:8080/a/b?x=1&y=2" <(tr -d "\r" <h) &&
	grep -qi "^Connection: close" h &&
	curl -s -o /dev/null -D h -H "Host: WWW.example.test" "$P/" &&
	grep -qix "Location: http://example.test/" <(tr -d "\r" <h) &&
	test "$(curl -s -H "Host: example.test" $P/ | version)" = version=v1 &&
	test "$(curl -s -H "Host: Example.Test." $P/ | version)" = version=v1 &&
	grep -q "\"host\":\"www.example.test:8080\".*\"status\":301" access.log &&
	svc_json can | jq -e ".canonical_host == \"example.test\""
'

test_expect_success 'read targets take reads; a write pins the client to the writers' '
	"$PROXY" deploy rw --target 127.0.0.1:$a_port --read-target 127.0.0.1:$b_port \
		--host rw.test --writer-affinity-timeout 30s $HC >/dev/null &&
	test "$(curl -s -H "Host: rw.test" $P/ | version)" = version=v2 &&
	test "$(curl -s -I -H "Host: rw.test" $P/ | grep -i "^X-App-Version" | tr -d "\r")" = "X-App-Version: v2" &&
	curl -s -D h -o body -H "Host: rw.test" -X POST --data x $P/echo &&
	grep -q "version=v1" body &&
	grep -qiE "^Set-Cookie: kamal-writer=[0-9]+; Path=/; Max-Age=31; HttpOnly" h &&
	cookie=$(grep -i "^Set-Cookie: kamal-writer" h | sed "s/^[^:]*: //; s/;.*//") &&
	until=${cookie#kamal-writer=} &&
	now=$(date +%s%3N) && test $((until - now)) -gt 25000 && test $((until - now)) -le 30000 &&
	test "$(curl -s -H "Host: rw.test" -H "Cookie: a=b; $cookie" $P/ | version)" = version=v1 &&
	test "$(curl -s -H "Host: rw.test" -H "Cookie: kamal-writer=1000" $P/ | version)" = version=v2 &&
	test "$(curl -s -H "Host: rw.test" -H "Cookie: kamal-writer=junk" $P/ | version)" = version=v2 &&
	curl -s -D h -o /dev/null -H "Host: rw.test" -X DELETE $P/ &&
	grep -qi "^Set-Cookie: kamal-writer=" h &&
	curl -s -D h -o /dev/null -H "Host: rw.test" -X POST \
		"$P/header?set=X-Writer-Affinity:false" &&
	! grep -qi "^Set-Cookie: kamal-writer" h &&
	! grep -qi "^X-Writer-Affinity" h &&
	svc_json rw | jq -e ".read_targets == [\"127.0.0.1:$b_port\"] and .writer_affinity_timeout_ms == 30000 and .read_target_websockets == false"
'

ws_version() {
	curl -s -m 1 -D - -o /dev/null -H "Host: rw.test" -H "Connection: Upgrade" \
		-H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" \
		-H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" $P/ws |
		tr -d "\r" | grep -i "^X-App-Version" | sed "s/.*: //"
}

test_expect_success 'WebSockets go to the writers unless --read-target-websockets' '
	test "$(ws_version)" = v1 &&
	"$PROXY" deploy rw --target 127.0.0.1:$a_port --read-target 127.0.0.1:$b_port \
		--host rw.test --read-target-websockets $HC >/dev/null &&
	test "$(ws_version)" = v2 &&
	svc_json rw | jq -e ".read_target_websockets == true and .writer_affinity_timeout_ms == 1000"
'

test_expect_success 'a read target is health-checked: down at deploy fails, down later is passed over' '
	test_must_fail "$PROXY" deploy rw --target 127.0.0.1:$a_port \
		--read-target 127.0.0.1:$never_port --host rw.test --deploy-timeout 300ms $HC 2>err &&
	grep -q "target .127.0.0.1:$never_port. of service .rw. did not become healthy" err &&
	"$PROXY" deploy rw --target 127.0.0.1:$a_port --read-target 127.0.0.1:$c_port \
		--host rw.test $HC >out && grep -q "1 old target(s) drained" out &&
	test "$(curl -s -H "Host: rw.test" $P/ | version)" = version=v3 &&
	curl -sf "127.0.0.1:$c_port/control/ready?value=0" >/dev/null &&
	wait_for_line px.log "target .127.0.0.1:$c_port. of service .rw. is out" &&
	test "$(curl -s -H "Host: rw.test" $P/ | version)" = version=v1 &&
	curl -sf "127.0.0.1:$c_port/control/ready?value=1" >/dev/null &&
	wait_for_line px.log "target .127.0.0.1:$c_port. of service .rw. is healthy again" &&
	test "$(curl -s -H "Host: rw.test" $P/ | version)" = version=v3
'

test_expect_success '--health-check-port checks another port of the target' '
	test_must_fail "$PROXY" deploy hp --target 127.0.0.1:$never_port --host hp.test \
		--health-check-port 0 $HC 2>err &&
	grep -q "option .--health-check-port. expects a port from 1 to 65535, got .0." err &&
	"$PROXY" deploy hp --target 127.0.0.1:$never_port --host hp.test \
		--health-check-port $a_port $HC >/dev/null &&
	test "$(curl -s -H "Host: hp.test" $P/ | version)" = version=v9 &&
	svc_json hp | jq -e ".health_check_port == $a_port"
'

test_expect_success '--health-check-host is the Host header of health checks' '
	"$PROXY" deploy probe --target 127.0.0.1:$a_port --host probe.test $HC >/dev/null &&
	test_must_fail "$PROXY" deploy hh --target 127.0.0.1:$px_port --host hh.test \
		--deploy-timeout 300ms $HC 2>err &&
	grep -q "status 404" err &&
	test_must_fail "$PROXY" deploy hh --target 127.0.0.1:$px_port --host hh.test \
		--health-check-host "bad host" $HC 2>err &&
	grep -q "option .--health-check-host. expects" err &&
	"$PROXY" deploy hh --target 127.0.0.1:$px_port --host hh.test \
		--health-check-host probe.test $HC >/dev/null &&
	svc_json hh | jq -e ".health_check_host == \"probe.test\"" &&
	"$PROXY" rm hh >/dev/null
'

# spooled_mid BUFFER_MEMORY: a slow 20-byte upload to service bm; prints how many temporary
# files the proxy holds halfway through.
spooled_mid() {
	local fd i n=0
	exec {fd}<>"/dev/tcp/127.0.0.1/$px_port"
	printf "POST /echo HTTP/1.1\r\nHost: bm.test\r\nContent-Length: 20\r\nConnection: close\r\n\r\n" >&$fd
	for ((i = 0; i < 10; i++)); do
		printf "ab" >&$fd
		sleep 0.05
		if ((i == 5)); then
			n=$(find /proc/$px_pid/fd -lname "$TEST_TMP/spool/*" 2>/dev/null | wc -l)
		fi
	done
	timeout 5 cat <&$fd >/dev/null
	exec {fd}<&-
	echo "$n"
}

test_expect_success '--buffer-memory: a buffered body beyond it goes to a temporary file' '
	"$PROXY" deploy bm --target 127.0.0.1:$a_port --host bm.test --buffer-requests $HC >/dev/null &&
	test "$(spooled_mid)" = 0 &&
	"$PROXY" deploy bm --target 127.0.0.1:$a_port --host bm.test --buffer-requests \
		--buffer-memory 4 $HC >/dev/null &&
	test "$(spooled_mid)" = 1 &&
	test_must_fail "$PROXY" deploy bm --target 127.0.0.1:$a_port --buffer-memory 1k 2>err &&
	grep -q "option .--buffer-memory. expects a size in bytes" err &&
	svc_json bm | jq -e ".buffer_memory == 4"
'

test_expect_success 'per-service --log-request-header and --log-response-header' '
	"$PROXY" deploy lg --target 127.0.0.1:$a_port --host lg.test --log-request-header X-Trace \
		--log-response-header X-App-Version $HC >/dev/null &&
	curl -sf -H "Host: lg.test" -H "X-Trace: t-123" $P/ >/dev/null &&
	curl -sf -H "Host: probe.test" -H "X-Trace: t-456" $P/ >/dev/null &&
	wait_for_line access.log "\"host\":\"probe.test\"" >/dev/null &&
	grep "\"host\":\"lg.test\"" access.log | tail -1 >line &&
	jq -e ".req_x_trace == \"t-123\" and .resp_x_app_version == \"v1\"" line &&
	grep "\"host\":\"probe.test\"" access.log | tail -1 >line &&
	jq -e "has(\"req_x_trace\") | not" line &&
	test_must_fail "$PROXY" deploy lg --target 127.0.0.1:$a_port --log-request-header "X Bad" 2>err &&
	grep -q "option .--log-request-header. expects a header name" err &&
	svc_json lg | jq -e ".log_request_headers == [\"X-Trace\"] and .log_response_headers == [\"X-App-Version\"]"
'

test_expect_success '--client-ip-header gives X-Forwarded-For and the logged address' '
	"$PROXY" deploy ip --target 127.0.0.1:$a_port --host ip.test \
		--client-ip-header CF-Connecting-IP $HC >/dev/null &&
	curl -sf -H "Host: ip.test" -H "CF-Connecting-IP: 203.0.113.9" $P/headers >h &&
	grep -qix "X-Forwarded-For: 203.0.113.9" h &&
	wait_for_line access.log "\"client_addr\":\"203.0.113.9\"" >/dev/null &&
	curl -sf -H "Host: ip.test" -H "CF-Connecting-IP: <script>" $P/headers >h &&
	grep -qix "X-Forwarded-For: 127.0.0.1" h &&
	curl -sf -H "Host: ip.test" $P/headers >h &&
	grep -qix "X-Forwarded-For: 127.0.0.1" h &&
	svc_json ip | jq -e ".client_ip_header == \"CF-Connecting-IP\""
'

test_expect_success '--exclude-metrics-path: requests under it are not counted' '
	"$PROXY" deploy mx --target 127.0.0.1:$a_port --host mx.test --path-prefix /app \
		--exclude-metrics-path /up --exclude-metrics-path /status $HC >/dev/null &&
	n0=$(metric "berth_proxy_requests_total{service=\"mx\",code=\"2xx\"}") &&
	curl -sf -H "Host: mx.test" $P/app/up >/dev/null &&
	curl -sf -H "Host: mx.test" "$P/app/status?code=200" >/dev/null &&
	curl -sf -H "Host: mx.test" $P/app/upx >/dev/null || true &&
	curl -sf -H "Host: mx.test" $P/app/ >/dev/null &&
	test "$(metric "berth_proxy_requests_total{service=\"mx\",code=\"2xx\"}")" = $((n0 + 1)) &&
	test "$(grep -c "\"host\":\"mx.test\"" access.log)" = 4 &&
	svc_json mx | jq -e ".exclude_metrics_paths == [\"/up\", \"/status\"]"
'

test_expect_success '--scope-cookie-paths moves cookie paths under the path prefix' '
	"$PROXY" deploy ck --target 127.0.0.1:$a_port --host ck.test --path-prefix /shop \
		--scope-cookie-paths $HC >/dev/null &&
	curl -s -D h -o /dev/null -H "Host: ck.test" \
		"$P/shop/header?set=Set-Cookie:sid%3D1%3B+Path%3D%2Fcart%3B+HttpOnly&set=Set-Cookie:b%3D2&set=Set-Cookie:c%3D3%3B+Domain%3Delsewhere.test" &&
	tr -d "\r" <h >h2 && cat h2 &&
	grep -qx "Set-Cookie: sid=1; HttpOnly; Path=/shop/cart" h2 &&
	grep -qx "Set-Cookie: b=2; Path=/shop" h2 &&
	grep -qx "Set-Cookie:c=3; Domain=elsewhere.test" h2 &&
	"$PROXY" deploy ck --target 127.0.0.1:$a_port --host ck.test --path-prefix /shop $HC >/dev/null &&
	curl -s -D h -o /dev/null -H "Host: ck.test" "$P/shop/header?set=Set-Cookie:b%3D2" &&
	grep -qx "Set-Cookie:b=2" <(tr -d "\r" <h) &&
	"$PROXY" deploy ck --target 127.0.0.1:$a_port --host ck.test --path-prefix /shop \
		--scope-cookie-paths $HC >/dev/null
'

# timing URL: curl's time to the first byte and time after it, in ms, and the body's events.
timing() {
	curl -s -H "Host: br.test" -o tbody -w "%{time_starttransfer} %{time_total}\n" "$1" |
		awk "{ printf \"%d %d\", \$1 * 1000, (\$2 - \$1) * 1000 }"
	echo " $(grep -c "^data: event" tbody)"
}

test_expect_success '--max-response-body needs --buffer-responses' '
	test_must_fail "$PROXY" deploy br --target 127.0.0.1:$a_port --max-response-body 10 2>err &&
	grep -q "option .--max-response-body. needs .--buffer-responses." err &&
	test_must_fail "$PROXY" deploy br --target 127.0.0.1:$a_port --buffer-responses \
		--max-response-body ten 2>err &&
	grep -q "option .--max-response-body. expects a size in bytes" err
'

test_expect_success '--buffer-responses: a response is sent once it is whole; an event stream is not held' '
	"$PROXY" deploy br --target 127.0.0.1:$a_port --host br.test $HC >/dev/null &&
	read -r first after n <<<"$(timing "$P/sse?n=4&ms=250&plain=1")" &&
	echo "unbuffered: first byte $first ms, then $after ms, $n events" &&
	test "$n" = 4 && test "$after" -ge 600 &&
	"$PROXY" deploy br --target 127.0.0.1:$a_port --host br.test --buffer-responses $HC >/dev/null &&
	read -r first after n <<<"$(timing "$P/sse?n=4&ms=250&plain=1")" &&
	echo "buffered: first byte $first ms, then $after ms, $n events" &&
	test "$n" = 4 && test "$first" -ge 700 &&
	read -r first after n <<<"$(timing "$P/sse?n=4&ms=250")" &&
	echo "event stream: first byte $first ms, then $after ms, $n events" &&
	test "$n" = 4 && test "$after" -ge 600 &&
	svc_json br | jq -e ".buffer_responses == true and .max_response_body == 0"
'

test_expect_success '--buffer-responses past --buffer-memory: a temporary file, the body intact' '
	"$PROXY" deploy br --target 127.0.0.1:$a_port --host br.test --buffer-responses \
		--buffer-memory 1000 $HC >/dev/null &&
	curl -s "127.0.0.1:$a_port/stream?bytes=300000" | md5sum >want &&
	curl -s -H "Host: br.test" "$P/stream?bytes=300000" | md5sum >got &&
	cmp want got &&
	curl -s -H "Host: br.test" --http1.0 "$P/stream?bytes=300000" | md5sum >got &&
	cmp want got &&
	(curl -s -H "Host: br.test" -o /dev/null "$P/sse?n=60&ms=20&plain=1" &) &&
	for i in $(seq 100); do
		n=$(find /proc/$px_pid/fd -lname "$TEST_TMP/spool/*" 2>/dev/null | wc -l)
		test "$n" -gt 0 && break
		sleep 0.02
	done &&
	test "$n" = 1
'

test_expect_success '--max-response-body: a larger response is 502, a smaller one whole' '
	"$PROXY" deploy br --target 127.0.0.1:$a_port --host br.test --buffer-responses \
		--max-response-body 5000 $HC >/dev/null &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: br.test" "$P/stream?bytes=5000")" = 200 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: br.test" "$P/stream?bytes=5001")" = 502 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: br.test" "$P/echo?mirror=1" \
		--data-binary @<(head -c 6000 /dev/zero))" = 502 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: br.test" "$P/echo?mirror=1" \
		--data-binary @<(head -c 4000 /dev/zero))" = 200 &&
	svc_json br | jq -e ".max_response_body == 5000"
'

test_expect_success 'the options survive a restart' '
	stop_pid $px_pid &&
	TMPDIR=$TEST_TMP/spool start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state" \
		--access-log "$TEST_TMP/access2.log" &&
	P=http://127.0.0.1:$px2_port && px_port=$px2_port &&
	for s in can rw hp bm lg ip mx ck br; do wait_for_line px2.log "service .$s. restored" || return 1; done &&
	svc_json can | jq -e ".canonical_host == \"example.test\"" &&
	curl -s -o /dev/null -D h -H "Host: www.example.test" "$P/x" &&
	grep -qix "Location: http://example.test/x" <(tr -d "\r" <h) &&
	test "$(curl -s -H "Host: rw.test" $P/ | version)" = version=v3 &&
	test "$(curl -s -H "Host: rw.test" -X POST --data x $P/echo | version)" = version=v1 &&
	svc_json hp | jq -e ".health_check_port == $a_port" &&
	test "$(curl -s -H "Host: hp.test" $P/ | version)" = version=v9 &&
	svc_json bm | jq -e ".buffer_memory == 4" &&
	curl -sf -H "Host: lg.test" -H "X-Trace: t-789" $P/ >/dev/null &&
	wait_for_line access2.log "\"req_x_trace\":\"t-789\"" >/dev/null &&
	curl -sf -H "Host: ip.test" -H "CF-Connecting-IP: 198.51.100.7" $P/headers | grep -qix "X-Forwarded-For: 198.51.100.7" &&
	svc_json mx | jq -e ".exclude_metrics_paths == [\"/up\", \"/status\"]" &&
	curl -s -D h -o /dev/null -H "Host: ck.test" "$P/shop/header?set=Set-Cookie:b%3D2" &&
	grep -qx "Set-Cookie: b=2; Path=/shop" <(tr -d "\r" <h) &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: br.test" "$P/stream?bytes=5001")" = 502
'

test_done
