#!/usr/bin/env bash
# berth-proxy against requests and responses built to slip past it: paths
# that climb out of their service's prefix or hide it behind escapes and
# slashes, framing headers a later hop could read differently, transfer
# codings the proxy cannot pass on, methods and lengths it refuses; and
# control commands with values that would reach a request the proxy writes
# (a health check path with CR LF in it) or a route no request can take.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app app app || exit 1
start_app secret secret || exit 1

# An upstream that answers with the framing the tests ask for (the path says which).
cat >"$TEST_TMP/raw.py" <<'PY'
import socket, socketserver, sys

RESPONSES = {
    "/up": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
    "/te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"
                b"\x1f\x8b\x08\x00coded",
    "/te-gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                        b"5\r\n\x1f\x8b\x08\x00c\r\n0\r\n\r\n",
    "/te-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"6\r\nplain\n\r\n0\r\n\r\n",
    "/cl-list": b"HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\nabc\n",
    "/cl-twice": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabc\n",
}

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ")[1].decode()
        print("got", path, flush=True)
        self.request.sendall(RESPONSES.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        self.request.shutdown(socket.SHUT_WR)

socketserver.ThreadingTCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as srv:
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()
PY
python3 "$TEST_TMP/raw.py" >"$TEST_TMP/raw.log" 2>&1 </dev/null &
test_cleanup "kill $!"
raw_port=$(wait_for_line "$TEST_TMP/raw.log" 'listening on 127\.0\.0\.1:[0-9]+') || exit 1
raw_port=${raw_port##*:}

export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 1 --state-dir "$TEST_TMP/state" || exit 1
"$PROXY" deploy app --target 127.0.0.1:$app_port --path-prefix /app >/dev/null || exit 1
"$PROXY" deploy secret --target 127.0.0.1:$secret_port --path-prefix /secret \
	--strip-path-prefix=false >/dev/null || exit 1
"$PROXY" deploy raw --target 127.0.0.1:$raw_port --host raw.test >/dev/null || exit 1

# get PATH [HOST]: the response to one GET, CRs removed.
get() {
	printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "${2:-a}" |
		raw_http $px_port | tr -d '\r'
}

test_expect_success 'dot segments, escapes and double slashes are routed as the path they mean' '
	for p in "/app/../secret/x" "/app/%2e%2E/secret/x" "//secret/x" "/%73ecret/x" \
		"/app/.%2e//secret/./x"; do
		get "$p" >out && cat out &&
		grep -q "^HTTP/1.1 404 " out
	done &&
	cat app.log secret.log &&
	test "$(grep -c "^GET /secret/x 404 " secret.log)" = 5 &&
	! grep -qE "^GET [^ ]*(secret|\.\.|%)" app.log
'

test_expect_success 'the app gets the normalized path, the query as it came' '
	get "/app/a/./b//c/%7euser/x%2fy/../d?q=/../%2e&r=%41" >out && cat out &&
	grep -q "^HTTP/1.1 404 " out &&
	grep -q "^GET /a/b/c/~user/d?q=/../%2e&r=%41 404 " app.log &&
	get "/app/%7Ex%2fy/%c3%a9" >out && cat out &&
	grep -q "^GET /~x%2Fy/%C3%A9 404 " app.log ||
	{ cat app.log; false; }
'

test_expect_success 'a path that climbs above the root or has a broken escape gets 400' '
	before=$(app_requests app) &&
	for p in "/../secret/x" "/app/../../secret/x" "/%2e%2e/secret/x" "/app/%zz" "/app/x%"; do
		get "$p" >out && cat out &&
		grep -q "^HTTP/1.1 400 Bad Request" out
	done &&
	test "$(app_requests app)" = "$before" &&
	! grep -q "^GET /\.\." secret.log
'

test_expect_success 'a request with Content-Length twice, even equal, gets 400 and reaches no app' '
	before=$(app_requests app) &&
	printf "POST /app/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc" |
		raw_http $px_port >out1 && cat out1 &&
	grep -q "^HTTP/1.1 400 " out1 &&
	printf "POST /app/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" |
		raw_http $px_port >out2 && cat out2 &&
	grep -q "^HTTP/1.1 400 " out2 &&
	test "$(app_requests app)" = "$before"
'

test_expect_success 'a request transfer coding other than chunked gets 501, one not ending in chunked 400' '
	before=$(app_requests app) &&
	printf "POST /app/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" |
		raw_http $px_port >out1 && cat out1 &&
	grep -q "^HTTP/1.1 501 Not Implemented" out1 &&
	printf "POST /app/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc" |
		raw_http $px_port >out2 && cat out2 &&
	grep -q "^HTTP/1.1 400 " out2 &&
	test "$(app_requests app)" = "$before"
'

test_expect_success 'a response with a transfer coding other than chunked gets 502, its bytes are not passed on' '
	for p in /te-gzip /te-gzip-chunked; do
		get $p raw.test >out && cat -v out &&
		grep -q "^HTTP/1.1 502 Bad Gateway" out &&
		! grep -q coded out &&
		grep -q "^got $p$" raw.log
	done &&
	get /te-chunked raw.test >out && cat out &&
	grep -q "^HTTP/1.1 200 " out && grep -q "^plain$" out
'

test_expect_success 'a response with Content-Length twice, even equal, gets 502' '
	for p in /cl-list /cl-twice; do
		get $p raw.test >out && cat out &&
		grep -q "^HTTP/1.1 502 Bad Gateway" out &&
		! grep -q abc out
	done
'

test_expect_success 'CONNECT gets 405 Method Not Allowed with the methods allowed' '
	printf "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" |
		raw_http $px_port | tr -d "\r" >out && cat out &&
	grep -q "^HTTP/1.1 405 Method Not Allowed$" out &&
	grep -q "^Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS$" out
'

test_expect_success 'a request line longer than the head limit gets 414, a long header 431' '
	{ printf "GET /app/"; head -c 70000 /dev/zero | tr "\0" a; printf " HTTP/1.1\r\nHost: a\r\n\r\n"; } |
		raw_http $px_port | tr -d "\r" >out1 && head -c 300 out1 &&
	grep -q "^HTTP/1.1 414 URI Too Long$" out1 &&
	{ printf "GET /app/ HTTP/1.1\r\nHost: a\r\nX: "; head -c 70000 /dev/zero | tr "\0" a; printf "\r\n\r\n"; } |
		raw_http $px_port | tr -d "\r" >out2 && head -c 300 out2 &&
	grep -q "^HTTP/1.1 431 Request Header Fields Too Large$" out2
'

test_expect_success 'deploy refuses an empty service name and a health path with CR LF; nothing changes' '
	"$PROXY" list >before &&
	test_must_fail "$PROXY" deploy "" --target 127.0.0.1:$app_port 2>err1 &&
	cat err1 &&
	grep -q "the service name expects 1 to 128 characters" err1 &&
	test_must_fail "$PROXY" deploy app --target 127.0.0.1:$app_port \
		--health-check-path "$(printf "/up\r\nX-Injected: 1")" 2>err2 &&
	cat -A err2 &&
	grep -qF "option '"'"'--health-check-path'"'"' expects a path" err2 &&
	grep -qF "got '"'"'/up\r\nX-Injected: 1'"'"'" err2 &&
	test "$(wc -l <err2)" = 1 &&
	"$PROXY" list >after &&
	cmp before after &&
	! grep -q "X-Injected" app.log
'

test_expect_success 'a value cannot end the control answer early or forge its status' '
	test_must_fail "$PROXY" deploy app --target 127.0.0.1:$app_port \
		--health-check-path "$(printf "/up\nx 0")" 2>err &&
	cat err && grep -qF "got '"'"'/up\nx 0'"'"'" err &&
	test_must_fail "$PROXY" remove "$(printf "nope\nx 0")" 2>err &&
	cat err && grep -q "no service" err
'

test_expect_success 'deploy names the flag and what it expected for hosts, targets, durations' '
	"$PROXY" list >before &&
	for args in "--host=a\ b" "--host=example.com:80" "--host=*" \
		"--target=127.0.0.1:0" "--target=127.0.0.1:70000" "--target=a\ b:80" \
		"--health-check-interval=0s" "--client-timeout=soon" "--health-check-path=up" \
		"--path-prefix=/../x" "--path-prefix=/a?b" "--error-pages=pages"; do
		eval "set -- $args" &&
		test_must_fail "$PROXY" deploy app2 --target 127.0.0.1:$app_port "$@" 2>err &&
		cat err &&
		flag=${1%%=*} &&
		grep -qF "error: option '"'"'$flag'"'"' expects " err
	done &&
	"$PROXY" list >after &&
	cmp before after
'

test_expect_success 'a path prefix is kept normalized, as the paths it is matched with' '
	"$PROXY" deploy app3 --target 127.0.0.1:$app_port --path-prefix "/x/./y//%7ez/" >/dev/null &&
	"$PROXY" list >out && cat out &&
	grep -qE "^app3 +\* +/x/y/~z/ " out &&
	get "/x/y/%7Ez/a" >out && cat out &&
	grep -q "^GET /a 404 " app.log &&
	"$PROXY" remove app3 >/dev/null
'

test_expect_success 'a saved state is checked as deploy checks it' '
	mkdir -p state2 &&
	cat >state2/berth-proxy.json <<-EOF &&
	{"version": 1, "services": [
	  {"name": "bad", "hosts": ["bad.test"], "health_check_path": "/up\r\nX-Injected: 1",
	   "targets": ["127.0.0.1:$app_port"]},
	  {"name": "good", "hosts": ["good.test"], "path_prefix": "/a/./b",
	   "targets": ["127.0.0.1:$app_port"]}
	]}
	EOF
	start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state2" --socket "$TEST_TMP/px2.sock" &&
	BERTH_PROXY_SOCKET=$TEST_TMP/px2.sock "$PROXY" list >out &&
	cat out px2.log &&
	! grep -q "^bad " out &&
	grep -qE "^good +good.test +/a/b " out &&
	grep -qF "service '"'"'bad'"'"': option '"'"'--health-check-path'"'"' expects" px2.log
'

test_done
