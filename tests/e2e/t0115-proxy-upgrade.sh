#!/usr/bin/env bash
# An upgrade of berth-proxy without a failed request: `berth-proxy run
# --takeover` takes the running proxy's listening sockets over its control
# socket, serves the same routes, and the old process stops accepting,
# finishes what it has in flight (streams, tunnels) up to the drain timeout
# and exits. A handover that cannot happen breaks nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

WS=$TEST_TMP/wsclient
gcc -std=c11 -D_GNU_SOURCE -O2 -o "$WS" "$TOP/tests/fixtures/testapp/wsclient.c" || exit 1
start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
start_app late late || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px1 --workers 2 --state-dir "$TEST_TMP/state" --metrics-port 0 || exit 1
PORT=$px1_port
METRICS=$(wait_for_line px1.log 'metrics on 127\.0\.0\.1:[0-9]+') || exit 1
METRICS=${METRICS##*:}
P=http://127.0.0.1:$PORT
dep() { "$PROXY" deploy "$@" --health-check-interval 100ms >/dev/null; }
dep web --target 127.0.0.1:$v1_port || exit 1
dep api --host api.test --target 127.0.0.1:$v2_port || exit 1

# ver [CURL ARGS...]: the version that answers.
ver() { curl -s --max-time 5 "$@" | sed -n "s/.*version=\([a-z0-9]*\).*/\1/p"; }

# Test bodies run in subshells, and background jobs are started on lines of their own (a
# "&" after "&&" would put the whole chain in the background): pids go through files.

# takeover NAME [ARGS...]: starts NAME with --takeover on the state of the others (its pid
# in NAME.pid); waits until it has taken over.
takeover() {
	local name=$1
	shift
	"$PROXY" run --http-port 0 --listen 127.0.0.1 --state-dir "$TEST_TMP/state" --takeover \
		"$@" >"$TEST_TMP/$name.log" 2>&1 </dev/null &
	echo $! >"$TEST_TMP/$name.pid"
	test_cleanup "kill $!"
	wait_for_line "$TEST_TMP/$name.log" "took over the listeners" >/dev/null
}

# gone PID: waits (up to 20 s) until the process has exited.
gone() {
	local i
	for ((i = 0; i < 400; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# new_conns N: N requests, each on a new connection, one line "|CODE" or "curl-failed" each.
new_conns() {
	local i
	for ((i = 0; i < $1; i++)); do
		[[ -e $TEST_TMP/stop ]] && break
		curl -s --max-time 20 -o /dev/null -w '|%{http_code}\n' $P/ || echo curl-failed
	done
}

test_expect_success 'under load, with a WebSocket and an SSE stream open, a new process takes over' '
	rm -f "$TEST_TMP/stop"
	load_loop load1 $P/ $P/ -H "Host: api.test" $P/ &
	l1=$!
	load_loop load2 $P/ $P/ &
	l2=$!
	new_conns 300 >load3 &
	l3=$!
	(timeout 60 "$WS" $PORT --hold 40 >ws 2>&1; echo "exit $?" >>ws) &
	wait_for_line ws "echo 2" >/dev/null
	(curl -sN --max-time 30 "$P/sse?n=30&ms=100" >sse; echo "exit $?" >>sse) &
	wait_for_line sse "event 2 " >/dev/null &&
	takeover px2 --workers 1 --drain-timeout 4s --metrics-port $METRICS &&
	n=$(grep -c "^echo" ws) &&
	# The old process still carries the stream and the tunnel.
	wait_for_line ws "echo $((n + 5))" >/dev/null &&
	! grep -q closed ws &&
	wait_for_line sse "exit 0" >/dev/null &&
	grep -c "^data: event" sse >events &&
	test "$(cat events)" = 30 &&
	# The tunnel lasts until the drain timeout, then the old process exits.
	wait_for_line ws "exit 0" >/dev/null &&
	grep -q "^closed after" ws &&
	gone $px1_pid &&
	cat px1.log &&
	grep -q "handed over: no longer accepting" px1.log &&
	grep -q "drain time is up: closing 1 connection" px1.log &&
	# The metrics port was the old process'"'"'s until it exited.
	grep -q "metrics port $METRICS is the old proxy'"'"'s until it exits" px2.log &&
	wait_for_line px2.log "metrics on 127.0.0.1:$METRICS" >/dev/null &&
	# (into a file: grep -q leaving early would cut curl off mid-write)
	curl -sf -o metrics.txt "http://127.0.0.1:$METRICS/metrics" &&
	grep -q berth_proxy_requests_total metrics.txt &&
	touch "$TEST_TMP/stop" &&
	wait $l1 $l2 $l3 &&
	check_load load1 "v1|v2" &&
	check_load load2 v1 &&
	! grep -v "^|200$" load3 &&
	test $(grep -c "^|200$" load3) -gt 0
'

test_expect_success 'the new process serves every service and takes control commands' '
	test "$(ver $P/)" = v1 &&
	test "$(ver -H "Host: api.test" $P/)" = v2 &&
	grep -q "serving the 2 listeners taken over with as many workers (not 1)" px2.log &&
	"$PROXY" list >list &&
	grep -q "^web " list && grep -q "^api " list &&
	dep web --target 127.0.0.1:$v2_port &&
	test "$(ver $P/)" = v2 &&
	timeout 30 "$WS" $PORT >wsout 2>&1 &&
	grep -q "ok: TCP connection closed by the server" wsout
'

test_expect_success 'idle keep-alive connections are closed, the last response says Connection: close' '
	exec {ka}<>"/dev/tcp/127.0.0.1/$PORT" &&
	printf "GET / HTTP/1.1\r\nHost: x\r\n\r\n" >&$ka &&
	exec {busy}<>"/dev/tcp/127.0.0.1/$PORT" &&
	printf "GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n" >&$busy &&
	sleep 0.3 &&
	takeover px3 --drain-timeout 10s &&
	timeout 5 cat <&$ka >ka.out &&
	grep -q "version=v2" ka.out &&
	! grep -qi "^connection: close" ka.out &&
	timeout 5 cat <&$busy >busy.out &&
	cat busy.out &&
	grep -qi "^connection: close" busy.out &&
	exec {ka}<&- {busy}<&- &&
	gone $(cat px2.pid) &&
	grep -q "drained: every connection is done" px2.log
'

test_expect_success 'a takeover with no proxy to take from says so and binds nothing' '
	test_must_fail "$PROXY" run --http-port 0 --listen 127.0.0.1 \
		--socket "$TEST_TMP/none.sock" --state-dir "$TEST_TMP/state2" --takeover 2>err &&
	cat err &&
	grep -q "cannot take over from the proxy at .*none.sock.: no berth-proxy answers" err &&
	test "$(ver $P/)" = v2
'

test_expect_success 'a second proxy on the same port without --takeover is refused' '
	test_must_fail "$PROXY" run --http-port $PORT --listen 127.0.0.1 \
		--state-dir "$TEST_TMP/state" 2>err &&
	grep -q "already runs on port $PORT with the control socket" err &&
	grep -q "run --takeover" err &&
	test "$(ver $P/)" = v2
'

test_expect_success 'a new process that dies before it takes over leaves the old one serving' '
	dep late --host late.test --target 127.0.0.1:$late_port --deploy-timeout 20s &&
	curl -sf "127.0.0.1:$late_port/control/ready?value=0" >/dev/null
	"$PROXY" run --http-port 0 --listen 127.0.0.1 --state-dir "$TEST_TMP/state" --takeover \
		>px4.log 2>&1 </dev/null &
	p4=$!
	wait_for_line px3.log "handing the listeners over" >/dev/null &&
	test_must_fail "$PROXY" remove api 2>err &&
	grep -q "handing over to a new one; run the command again" err &&
	kill -9 $p4 &&
	wait_for_line px3.log "went away before it took over; serving on" >/dev/null &&
	test "$(ver $P/)" = v2 &&
	curl -sf "127.0.0.1:$late_port/control/ready?value=1" >/dev/null &&
	dep api --host api.test --target 127.0.0.1:$v1_port &&
	test "$(ver -H "Host: api.test" $P/)" = v1 &&
	kill -0 $(cat px3.pid) &&
	wait_for_line px3.log "serving on" >/dev/null
'

test_expect_success 'connections waiting in the accept queue are the new process'"'"'s' '
	curl -sf "127.0.0.1:$late_port/control/ready?value=0" >/dev/null
	"$PROXY" run --http-port 0 --listen 127.0.0.1 --state-dir "$TEST_TMP/state" --takeover \
		>px5.log 2>&1 </dev/null &
	echo $! >px5.pid
	test_cleanup "kill $(cat px5.pid)"
	# The new process has the listeners and waits for a health check; the old one freezes.
	# (The line is in the log once already, from the process that died.)
	for i in $(seq 200); do
		test "$(grep -c "handing the listeners over" px3.log)" = 2 && break
		sleep 0.05
	done &&
	test "$(grep -c "handing the listeners over" px3.log)" = 2 &&
	kill -STOP $(cat px3.pid) &&
	test_cleanup "kill -CONT $(cat px3.pid)" &&
	for i in 1 2 3 4 5; do
		(curl -s --max-time 30 -o /dev/null -w "%{http_code}\n" $P/ >queued.$i) &
	done
	sleep 0.5 &&
	test "$(cat queued.* | wc -l)" = 0 &&
	curl -sf "127.0.0.1:$late_port/control/ready?value=1" >/dev/null &&
	for i in $(seq 200); do
		test "$(cat queued.* | wc -l)" = 5 && break
		sleep 0.05
	done &&
	cat queued.* &&
	test "$(cat queued.* | sort -u)" = 200 &&
	# all answered while the old process could not have
	ps -o stat= -p $(cat px3.pid) | grep -q T &&
	kill -CONT $(cat px3.pid) &&
	wait_for_line px5.log "took over the listeners" >/dev/null &&
	gone $(cat px3.pid) &&
	test "$(ver $P/)" = v2
'


# The same over HTTPS: its listeners are handed over too, and the new process serves the
# certificate it finds in the same state directory (sent on deploy's standard input: no file
# of it is anywhere else).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=berth test CA" -keyout ca.key -out ca.pem 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=t.test" \
		-keyout t.key -out t.csr 2>/dev/null &&
	openssl x509 -req -in t.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
		-extfile <(printf 'subjectAltName=DNS:t.test\n') -out t.pem 2>/dev/null &&
	cat t.pem t.key >bundle && rm t.key || exit 1
TSOCK=$TEST_TMP/tctl.sock
start_proxy tx1 --workers 2 --https-port 0 --state-dir "$TEST_TMP/tstate" --socket "$TSOCK" ||
	exit 1
HS=$(wait_for_line tx1.log 'HTTPS [0-9]+' | sed 's/.* //')
TP=http://127.0.0.1:$tx1_port
TS=https://t.test:$HS
TLS=(--cacert "$TEST_TMP/ca.pem" --resolve "t.test:$HS:127.0.0.1")
"$PROXY" deploy tls --socket "$TSOCK" --target 127.0.0.1:$v1_port --host t.test --tls \
	--tls-certificate-stdin --health-check-interval 100ms <bundle >/dev/null || exit 1

# ttakeover NAME [ARGS...]: takeover on the HTTPS proxy's state and socket.
ttakeover() {
	local name=$1
	shift
	"$PROXY" run --http-port 0 --listen 127.0.0.1 --state-dir "$TEST_TMP/tstate" \
		--socket "$TSOCK" --https-port 0 --takeover "$@" >"$TEST_TMP/$name.log" 2>&1 \
		</dev/null &
	echo $! >"$TEST_TMP/$name.pid"
	test_cleanup "kill $!"
	wait_for_line "$TEST_TMP/$name.log" "took over the listeners" >/dev/null
}

# tls_conns N: N requests over HTTPS, each on a new TLS connection, as new_conns.
tls_conns() {
	local i
	for ((i = 0; i < $1; i++)); do
		[[ -e $TEST_TMP/stop ]] && break
		curl -s --max-time 20 "${TLS[@]}" -o /dev/null -w '|%{http_code}\n' $TS/ ||
			echo curl-failed
	done
}

test_expect_success 'under HTTPS load, with an SSE stream over TLS, a new process takes over' '
	rm -f "$TEST_TMP/stop"
	load_loop tload1 "${TLS[@]}" $TS/ $TS/ $TS/ &
	l1=$!
	load_loop tload2 "${TLS[@]}" $TS/ $TS/ &
	l2=$!
	tls_conns 300 >tload3 &
	l3=$!
	(curl -sN --max-time 30 "${TLS[@]}" "$TS/sse?n=30&ms=100" >tsse; echo "exit $?" >>tsse) &
	wait_for_line tsse "event 2 " >/dev/null &&
	ttakeover tx2 --workers 1 --drain-timeout 10s &&
	# The new process serves the listeners it was handed, not sockets of its own.
	grep -q "listening on port $tx1_port (HTTPS $HS) with 2 worker(s)" tx2.log &&
	grep -q "serving the 2 listeners taken over with as many workers (not 1)" tx2.log &&
	! grep -q "closing a listener" tx2.log &&
	wait_for_line tsse "exit 0" >/dev/null &&
	test "$(grep -c "^data: event" tsse)" = 30 &&
	gone $tx1_pid &&
	grep -q "drained: every connection is done" tx1.log &&
	# Only the new process is left: it has the certificate, from the state directory.
	echo | openssl s_client -connect 127.0.0.1:$HS -servername t.test \
		-CAfile "$TEST_TMP/ca.pem" >sclient 2>&1 &&
	grep -q "subject=CN = t.test" sclient &&
	grep -q "Verify return code: 0 (ok)" sclient &&
	curl -sf "${TLS[@]}" $TS/ | grep -q version=v1 &&
	touch "$TEST_TMP/stop" &&
	wait $l1 $l2 $l3 &&
	check_load tload1 v1 &&
	check_load tload2 v1 &&
	! grep -v "^|200$" tload3 &&
	test $(grep -c "^|200$" tload3) -gt 0 &&
	# Plain HTTP on the same process still redirects to the HTTPS port taken over.
	curl -s -o /dev/null -w "%{redirect_url}" -H "Host: t.test" $TP/x >redir &&
	test "$(cat redir)" = "https://t.test:$HS/x"
'

test_expect_success 'an idle TLS connection of the old process ends with close_notify' '
	python3 - "$HS" "$TEST_TMP/ca.pem" >tka 2>&1 <<-\EOF &
	import socket, ssl, sys
	ctx = ssl.create_default_context(cafile=sys.argv[2])
	raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	# Without close_notify the end of the stream is an error, not b"".
	s = ctx.wrap_socket(raw, server_hostname="t.test", suppress_ragged_eofs=False)
	s.sendall(b"GET / HTTP/1.1\r\nHost: t.test\r\n\r\n")
	got = b""
	while b"version=" not in got:
	    got += s.recv(65536)
	print("answered", flush=True)
	try:
	    while True:
	        b = s.recv(65536)
	        if not b:
	            print("close_notify")
	            break
	        got += b
	except ssl.SSLEOFError as e:
	    print("cut:", e)
	EOF
	py=$!
	wait_for_line tka answered >/dev/null &&
	ttakeover tx3 --drain-timeout 10s &&
	wait $py &&
	cat tka &&
	grep -q "^close_notify$" tka &&
	gone $(cat tx2.pid) &&
	curl -sf "${TLS[@]}" $TS/ | grep -q version=v1
'

test_expect_success 'a new process without --https-port closes the HTTPS listeners it is handed' '
	"$PROXY" run --http-port 0 --listen 127.0.0.1 --state-dir "$TEST_TMP/tstate" \
		--socket "$TSOCK" --takeover >tx4.log 2>&1 </dev/null &
	echo $! >tx4.pid
	test_cleanup "kill $(cat tx4.pid)"
	wait_for_line tx4.log "took over the listeners" >/dev/null &&
	grep -q "closing a listener of a kind this proxy does not serve: .https." tx4.log &&
	gone $(cat tx3.pid) &&
	test_must_fail curl -s "${TLS[@]}" $TS/ &&
	curl -s -o /dev/null -w "%{http_code}" -H "Host: t.test" --max-time 5 $TP/ >code &&
	test "$(cat code)" = 200
'

test_done
