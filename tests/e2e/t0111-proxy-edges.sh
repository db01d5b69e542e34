#!/usr/bin/env bash
# Edge cases of berth-proxy's data plane: header names that CGI-style
# folding would change, HTTP/1.0 clients of chunked responses, clients that
# hang up while their request is held by a pause, idle tunnels.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
WS=$TEST_TMP/wsclient
gcc -std=c11 -D_GNU_SOURCE -O2 -o "$WS" "$TOP/tests/fixtures/testapp/wsclient.c" || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$v1_port --health-check-interval 100ms \
	--forward-headers=false >/dev/null || exit 1
# A second proxy with a short idle timeout, for tunnels.
start_proxy idle --workers 1 --state-dir "$TEST_TMP/state-idle" --socket "$TEST_TMP/idle.sock" \
	--http-idle-timeout 1s || exit 1
BERTH_PROXY_SOCKET=$TEST_TMP/idle.sock "$PROXY" deploy ws --target 127.0.0.1:$v2_port >/dev/null ||
	exit 1

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

# split_response FILE: FILE.head gets the head (CR removed), FILE.body the body as sent
# (raw_http's "<<closed>>" line is dropped, and with it the newline before it).
split_response() {
	sed -n "1,/^\r\$/p" "$1" | tr -d "\r" >"$1.head"
	sed "1,/^\r\$/d" "$1" | head -c -12 >"$1.body"
	test "$(tail -c 12 "$1")" = "$(printf "\n<<closed>>")"
}

test_expect_success 'an HTTP/1.0 client gets a chunked response without the framing' '
	printf "GET /stream?bytes=100000 HTTP/1.0\r\n\r\n" | raw_http $px_port >r1 &&
	split_response r1 &&
	cat r1.head &&
	grep -q "^HTTP/1.1 200 " r1.head &&
	! grep -qi "^transfer-encoding" r1.head &&
	grep -qi "^connection: close" r1.head &&
	printf "abcdefghijklmnopqrstuvwxyz%.0s" $(seq 3900) >alpha &&
	head -c 100000 alpha >want &&
	cmp want r1.body
'

test_expect_success 'an HTTP/1.0 keep-alive client of a stream gets the data and a close' '
	printf "GET /sse?n=3&ms=20 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n" |
		raw_http $px_port >r2 &&
	split_response r2 &&
	cat r2.head r2.body &&
	! grep -qi "^transfer-encoding" r2.head &&
	grep -qi "^connection: close" r2.head &&
	printf "data: event %s version=v1\n\n" 1 2 3 >want &&
	cmp want r2.body
'

test_expect_success 'HTTP/1.1 clients still get chunked framing, 1.0 ones a length when known' '
	printf "GET /stream?bytes=10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" |
		raw_http $px_port >r3 &&
	split_response r3 &&
	grep -qi "^transfer-encoding: chunked" r3.head &&
	printf "a\r\nabcdefghij\r\n0\r\n\r\n" >want && cmp want r3.body &&
	printf "POST /echo HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc" |
		raw_http $px_port 1 >r4 &&
	cat r4 &&
	grep -qi "^content-length: " r4 && grep -qi "^connection: keep-alive" r4 &&
	grep -q "^len=3 " r4
'

test_expect_success 'a tunnel idle both ways for --http-idle-timeout is closed on both sides' '
	exec {fd}<>/dev/tcp/127.0.0.1/$idle_port &&
	printf "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" >&$fd &&
	timeout 20 cat <&$fd >silent &&
	exec {fd}<&- &&
	cat silent &&
	grep -q "^HTTP/1.1 101 " silent &&
	grep -q "GET /ws 101" v2.log &&
	for i in $(seq 100); do test "$(conns_to $v2_port)" = 0 && break; sleep 0.05; done &&
	test "$(conns_to $v2_port)" = 0
'

test_expect_success 'a tunnel that carries messages outlives the idle timeout' '
	test_must_fail timeout 20 "$WS" $idle_port --hold 3 >busy 2>&1 &&
	cat busy &&
	grep -q "still open after 3 s" busy &&
	! grep -q "^closed after" busy
'

test_expect_success 'an answer before the upload is all sent reaches the client, not a reset' '
	cat >early.py <<-\EOF &&
	import socket, socketserver, sys, time
	class App(socketserver.BaseRequestHandler):
	    def handle(self):
	        head = b""
	        while b"\r\n\r\n" not in head:
	            b = self.request.recv(65536)
	            if not b:
	                return
	            head += b
	        if head.startswith(b"GET"):
	            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nup\n")
	            return
	        # refused on its head, the way a login check refuses an upload
	        self.request.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 7\r\n\r\ndenied\n")
	        while self.request.recv(65536):
	            pass
	if sys.argv[1] == "app":
	    socketserver.ThreadingTCPServer.allow_reuse_address = True
	    s = socketserver.ThreadingTCPServer(("127.0.0.1", 0), App)
	    print("listening on 127.0.0.1:%d" % s.server_address[1], flush=True)
	    s.serve_forever()
	c = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
	size = 4 << 20
	c.sendall(b"POST /upload HTTP/1.1\r\nHost: early.test\r\nContent-Length: %d\r\n\r\n" % size)
	c.sendall(b"x" * 65536)
	time.sleep(0.3)  # the answer comes, and the proxy is done with the exchange
	c.sendall(b"x" * (size - 65536))
	got = b""
	while True:
	    b = c.recv(65536)
	    if not b:
	        break
	    got += b
	sys.stdout.write(got.decode())
	EOF
	{ python3 early.py app >early.log 2>&1 & } &&
	test_cleanup "kill $!" &&
	port=$(wait_for_line early.log "listening on 127\.0\.0\.1:[0-9]+") &&
	"$PROXY" deploy early --target "127.0.0.1:${port##*:}" --host early.test \
		--health-check-interval 100ms >/dev/null &&
	python3 early.py client $px_port >answer 2>&1 &&
	cat answer &&
	grep -q "^HTTP/1.1 401 " answer &&
	grep -q "^denied" answer
'

test_done
