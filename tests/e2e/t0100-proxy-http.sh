#!/usr/bin/env bash
# berth-proxy's HTTP/1.1 forwarding: keep-alive, pipelining, bodies both
# ways, header rewriting, and the limits answered without the upstream.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app app v1 || exit 1
start_app app2 v2 || exit 1
start_proxy px --workers 2 --target "127.0.0.1:$app_port" || exit 1
# Short limits, for the timeouts and sizes; its own app, to count connections.
start_proxy lim --workers 1 --target "127.0.0.1:$app2_port" --http-read-timeout 1s \
	--http-idle-timeout 1s --target-timeout 1s --max-request-body 1000 --max-header-kb 8 || exit 1
P=http://127.0.0.1:$px_port
L=http://127.0.0.1:$lim_port
head -c 3000000 /dev/urandom >"$TEST_TMP/body"

test_expect_success 'a request reaches the app and its answer comes back' '
	curl -sf $P/ >out &&
	grep -q "testapp version=v1" out
'

test_expect_success 'forwarded headers are set, spoofed ones replaced, Host kept' '
	curl -sf -H "X-Forwarded-For: 6.6.6.6" -H "X-Forwarded-Host: evil" \
		-H "X-Request-Start: t=1" -H "Host: app.example.com" $P/headers >out &&
	cat out &&
	grep -qx "Host: app.example.com" out &&
	grep -qx "X-Forwarded-For: 127.0.0.1" out &&
	grep -qx "X-Forwarded-Proto: http" out &&
	grep -qx "X-Forwarded-Host: app.example.com" out &&
	grep -qE "^X-Request-Start: t=[0-9]{13}$" out &&
	grep -qE "^X-Request-ID: [0-9a-f]{32}$" out &&
	! grep -q 6.6.6.6 out && ! grep -q evil out && ! grep -q "t=1$" out
'

test_expect_success 'X-Request-ID is kept when the client sends one' '
	curl -sf -H "X-Request-ID: abc-123" $P/headers >out &&
	grep -qx "X-Request-ID: abc-123" out &&
	test $(grep -ci "^X-Request-ID" out) = 1
'

test_expect_success 'hop-by-hop headers are not forwarded' '
	curl -sf -H "Connection: keep-alive, X-Secret" -H "X-Secret: 1" -H "Keep-Alive: 5" \
		-H "TE: trailers" -H "Proxy-Connection: x" -H "X-Kept: yes" $P/headers >out &&
	cat out &&
	grep -qx "X-Kept: yes" out &&
	! grep -qiE "^(Connection|X-Secret|Keep-Alive|TE|Proxy-Connection):" out
'

test_expect_success 'keep-alive: several requests on one client connection' '
	curl -sfv $P/ $P/up $P/headers -o /dev/null -o /dev/null -o /dev/null 2>err &&
	test $(grep -c "Re-using existing connection" err) = 2 &&
	test $(grep -c "^< HTTP/1.1 200" err) = 3
'

test_expect_success 'pipelined requests are answered in order' '
	printf "GET /slow?ms=200 HTTP/1.1\r\nHost: a\r\n\r\nGET /status?code=201 HTTP/1.1\r\nHost: a\r\n\r\nGET /up HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" |
		raw_http $px_port >out &&
	grep -aq "^<<closed>>" out &&
	grep -aE "^HTTP/1.1 " out | tr -d "\r" >codes &&
	printf "HTTP/1.1 200 OK\nHTTP/1.1 201 Created\nHTTP/1.1 200 OK\n" >want &&
	diff want codes &&
	grep -aq "slow ms=200" out &&
	grep -aq "^Connection: close" out
'

test_expect_success 'a Content-Length body is streamed to the app intact' '
	curl -sf --data-binary @"$TEST_TMP/body" $P/echo >out &&
	curl -sf --data-binary @"$TEST_TMP/body" http://127.0.0.1:$app_port/echo >want &&
	diff want out
'

test_expect_success 'a chunked body is passed through intact' '
	curl -sf -H "Transfer-Encoding: chunked" --data-binary @"$TEST_TMP/body" $P/echo >out &&
	grep -q "len=3000000 " out &&
	curl -sf --data-binary @"$TEST_TMP/body" http://127.0.0.1:$app_port/echo >want &&
	diff want out
'

test_expect_success 'a large body comes back byte for byte (upload and download at once)' '
	curl -sf --data-binary @"$TEST_TMP/body" "$P/echo?mirror=1" >out &&
	cmp out "$TEST_TMP/body"
'

test_expect_success 'Expect: 100-continue is answered by the app through the proxy' '
	curl -sfv -H "Expect: 100-continue" --data-binary @"$TEST_TMP/body" $P/echo >out 2>err &&
	grep -q "< HTTP/1.1 100 Continue" err &&
	grep -q "len=3000000 " out
'

test_expect_success 'a chunked response streams to the end' '
	curl -sf "$P/stream?bytes=1000000" >out &&
	test $(wc -c <out) = 1000000
'

test_expect_success 'a response delimited by the end of the connection (HTTP/1.0)' '
	curl -sf -0 -v "$P/stream?bytes=50000" >out 2>err &&
	test $(wc -c <out) = 50000 &&
	grep -qi "< Connection: close" err
'

test_expect_success 'server-sent events reach the client as they are written' '
	(timeout 20 curl -sN "$P/sse?n=2&ms=4000" >sse &) &&
	wait_for_line sse "event 1" &&
	! grep -q "event 2" sse &&
	wait_for_line sse "event 2"
'

test_expect_success 'HEAD and status codes pass through' '
	curl -sfI $P/ >out && grep -q "^HTTP/1.1 200" out && grep -qi "^Content-Length: 27" out &&
	test $(curl -s -o /dev/null -w "%{http_code}" "$P/status?code=503") = 503 &&
	test $(curl -s -o /dev/null -w "%{http_code}" "$P/status?code=204") = 204
'

test_expect_success 'upstream connections are pooled and reused across client connections' '
	for i in 1 2 3 4 5 6 7 8 9 10; do
		curl -sf $L/ >/dev/null
	done &&
	test "$(app_requests app2)" -ge 10 &&
	test "$(conns_to $app2_port)" = 1
'

test_expect_success 'a malformed request gets 400 and never reaches the app' '
	before=$(app_requests app) &&
	printf "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n" | raw_http $px_port >out &&
	grep -aq "^HTTP/1.1 400 " out &&
	printf "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" |
		raw_http $px_port >out2 &&
	grep -aq "^HTTP/1.1 400 " out2 &&
	test "$(app_requests app)" = "$before"
'

test_expect_success 'a head over the limit gets 431' '
	before=$(app_requests app) &&
	big=$(head -c 10000 /dev/zero | tr "\0" a) &&
	curl -s -o /dev/null -w "%{http_code}" -H "X-Big: $big" $L/ >code &&
	test "$(cat code)" = 431 &&
	test "$(app_requests app)" = "$before"
'

test_expect_success 'a body over --max-request-body gets 413 (declared and chunked)' '
	before=$(app_requests app) &&
	head -c 2000 /dev/zero >b2k &&
	test $(curl -s -o /dev/null -w "%{http_code}" --data-binary @b2k $L/echo) = 413 &&
	test "$(app_requests app)" = "$before" &&
	test $(curl -s -o /dev/null -w "%{http_code}" -H "Transfer-Encoding: chunked" \
		--data-binary @b2k $L/echo) = 413 &&
	head -c 500 /dev/zero >b500 &&
	curl -sf --data-binary @b500 $L/echo | grep -q "len=500 "
'

test_expect_success 'a head that does not arrive in time gets 408' '
	printf "GET / HTTP/1.1\r\nHost: a\r\n" | raw_http $lim_port 10 >out &&
	grep -aq "^HTTP/1.1 408 " out &&
	grep -aq "^<<closed>>" out
'

test_expect_success 'an idle keep-alive connection is closed after the idle timeout' '
	printf "GET /up HTTP/1.1\r\nHost: a\r\n\r\n" | raw_http $lim_port 10 >out &&
	grep -aq "^HTTP/1.1 200 " out &&
	grep -aq "^ok" out &&
	grep -aq "^<<closed>>" out
'

test_expect_success 'an app slower than --target-timeout gets 504' '
	test $(curl -s -o /dev/null -w "%{http_code}" "$L/slow?ms=3000") = 504 &&
	curl -sf "$L/slow?ms=10" | grep -q "slow ms=10"
'

test_expect_success 'an unreachable target gets 502' '
	start_app gone v0 &&
	stop_pid $gone_pid &&
	start_proxy dead --workers 1 --target "127.0.0.1:$gone_port" &&
	test $(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$dead_port/) = 502
'

test_expect_success 'the proxy survived all of the above' '
	kill -0 $px_pid && kill -0 $lim_pid &&
	curl -sf $P/ | grep -q version=v1
'

test_done
