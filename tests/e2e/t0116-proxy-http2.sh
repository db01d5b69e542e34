#!/usr/bin/env bash
# HTTP/2, over TLS (ALPN "h2") and with prior knowledge on the plain listener
# (run --h2c): every stream is
# an exchange with a pooled HTTP/1.1 upstream connection, so routing, pause,
# error pages and the access log work as for HTTP/1.1; bodies stream both
# ways; and a hostile client (rapid reset, too many streams, huge headers,
# CONTINUATION or PING floods, a window that never opens) is cut short.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

H2RAW="python3 $TOP/tests/fixtures/h2raw.py"

start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --h2c --http-idle-timeout 1s --access-log "$TEST_TMP/access.log" \
	--state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --host web.test --target 127.0.0.1:$v1_port \
	--health-check-interval 100ms >/dev/null || exit 1
"$PROXY" deploy api --host api.test --target 127.0.0.1:$v2_port \
	--health-check-interval 100ms >/dev/null || exit 1

h2() { curl -s --http2-prior-knowledge "$@"; }

test_expect_success 'a request over HTTP/2 reaches the service of its :authority' '
	h2 -H "Host: web.test" -w "|%{http_code}|%{http_version}\n" $P/ >out &&
	cat out && grep -q "^testapp version=v1 " out && grep -q "^|200|2$" out &&
	h2 --resolve api.test:$px_port:127.0.0.1 http://api.test:$px_port/ >out &&
	grep -q "version=v2" out &&
	h2 -H "Host: nothing.test" -w "|%{http_code}\n" $P/ >out &&
	cat out && grep -q "|404$" out
'

test_expect_success 'HTTP/1.1 still works on the same port' '
	curl -s -H "Host: web.test" -w "|%{http_version}\n" $P/ >out &&
	grep -q "version=v1" out && grep -q "^|1.1$" out
'

test_expect_success 'the upstream sees the request with X-Forwarded-* and joined cookies' '
	h2 -H "Host: web.test" -H "Cookie: a=1" -H "Cookie: b=2" $P/headers >out &&
	cat out &&
	grep -qi "^host: web.test$" out &&
	grep -qi "^x-forwarded-for: 127.0.0.1$" out &&
	grep -qi "^x-forwarded-proto: http$" out &&
	grep -qi "^x-request-id: " out &&
	grep -qiE "^cookie: (a=1; b=2|b=2; a=1)$" out
'

test_expect_success 'a big download arrives whole' '
	h2 -H "Host: web.test" "$P/stream?bytes=20000000" | md5sum >h2.sum &&
	curl -s -H "Host: web.test" "$P/stream?bytes=20000000" | md5sum >h1.sum &&
	cmp h1.sum h2.sum
'

test_expect_success 'uploads with and without a length arrive whole' '
	head -c 3000000 /dev/urandom >up.bin &&
	curl -s -H "Host: web.test" --data-binary @up.bin $P/echo >h1.out &&
	h2 -H "Host: web.test" --data-binary @up.bin $P/echo >h2.out &&
	cat h1.out h2.out && cmp h1.out h2.out &&
	h2 -H "Host: web.test" -H "Transfer-Encoding: chunked" -T up.bin $P/echo >h2c.out &&
	cmp h1.out h2c.out &&
	h2 -H "Host: web.test" --data-binary @up.bin "$P/echo?mirror=1" | cmp - up.bin
'

test_expect_success 'a buffered response goes out whole' '
	"$PROXY" deploy buf --host buf.test --target 127.0.0.1:$v1_port --buffer-responses \
		--health-check-interval 100ms >/dev/null &&
	h2 -H "Host: buf.test" "$P/stream?bytes=3000000" | md5sum >h2.sum &&
	curl -s -H "Host: buf.test" "$P/stream?bytes=3000000" | md5sum >h1.sum &&
	cmp h1.sum h2.sum
'

test_expect_success '100-continue is passed on as an interim response' '
	h2 -v -H "Host: web.test" -H "Expect: 100-continue" --data-binary @up.bin $P/echo \
		>out 2>err &&
	grep -q "^< HTTP/2 100" err && cmp out h1.out
'

test_expect_success 'HEAD gets the head only' '
	h2 -I -H "Host: web.test" $P/ >out &&
	cat out && grep -q "^HTTP/2 200" out && grep -qi "^content-length: 27" out
'

test_expect_success 'server-sent events arrive as they are written' '
	(h2 -N -H "Host: web.test" "$P/sse?n=3&ms=1000" >sse.out &) &&
	wait_for_line sse.out "event 1" &&
	! grep -q "event 3" sse.out &&
	wait_for_line sse.out "event 3"
'

test_expect_success 'the upstream status and error pages go through' '
	h2 -H "Host: web.test" -w "|%{http_code}\n" "$P/status?code=503" >out &&
	grep -q "|503$" out &&
	"$PROXY" stop api --message "down for now" >/dev/null &&
	h2 -H "Host: api.test" -w "|%{http_code}\n" $P/ >out &&
	cat out && grep -q "down for now" out && grep -q "|503$" out &&
	"$PROXY" resume api >/dev/null
'

test_expect_success 'a request for a paused service is held until resume' '
	"$PROXY" pause web >/dev/null &&
	(h2 -H "Host: web.test" -w "|%{http_code}\n" $P/ >held.out &) &&
	sleep 0.3 &&
	test ! -s held.out &&
	"$PROXY" resume web >/dev/null &&
	wait_for_line held.out "\|200" &&
	grep -q "version=v1" held.out
'

test_expect_success 'many concurrent streams (h2load) all succeed' '
	h2load -n 2000 -c 2 -m 64 -H ":authority: web.test" $P/ >load.out 2>&1;
	cat load.out | grep -E "requests:|status codes" &&
	grep -q "2000 succeeded, 0 failed, 0 errored" load.out &&
	grep -q "2000 2xx" load.out
'

test_expect_success 'HTTP/2 requests are in the access log' '
	wait_for_line access.log "\"host\":\"web.test\".*\"status\":200" >/dev/null
'

test_expect_success 'rapid reset: a connection that resets stream after stream gets GOAWAY' '
	$H2RAW $px_port reset 400 >out && cat out &&
	grep -q "^goaway 11$" out &&
	h2 -H "Host: web.test" $P/ | grep -q version=v1
'

test_expect_success 'streams beyond 128 at once are refused, the others answered' '
	$H2RAW $px_port streams 200 >out && cat out &&
	grep -qE "^refused [0-9]+ ok 128$" out &&
	! grep -q "^refused 0 " out
'

test_expect_success 'CONTINUATION, PING and SETTINGS floods end the connection' '
	$H2RAW $px_port continuation 20 >out && cat out && grep -q "^goaway 11$" out &&
	$H2RAW $px_port ping 50000 >out && cat out && grep -qE "^(goaway 11|closed)$" out &&
	$H2RAW $px_port settings 50000 >out && cat out && grep -qE "^(goaway 11|closed)$" out
'

test_expect_success 'a stream whose window never opens is reset after the idle timeout' '
	$H2RAW $px_port zerowindow >out && cat out &&
	grep -q "^rst 8$" out &&
	h2 -H "Host: web.test" $P/ | grep -q version=v1
'

test_expect_success 'a handover tells HTTP/2 clients with GOAWAY and lets their streams finish' '
	($H2RAW $px_port sse 60 web.test >sse.h2 &) &&
	wait_for_line sse.h2 "^ready" &&
	{ "$PROXY" run --http-port 0 --listen 127.0.0.1 --state-dir "$TEST_TMP/state" --takeover \
		--h2c --drain-timeout 10s >px2.log 2>&1 </dev/null & } &&
	echo $! >px2.pid &&
	test_cleanup "kill $(cat px2.pid)" &&
	wait_for_line px2.log "took over the listeners" &&
	wait_for_line sse.h2 "^goaway 0$" &&
	wait_for_line sse.h2 "^ended$" &&
	wait_for_line sse.h2 "^closed$" &&
	cat sse.h2 &&
	test "$(grep -n "" sse.h2 | grep -E "goaway|ended" | head -1 | cut -d: -f2)" = "goaway 0" &&
	h2 -H "Host: web.test" $P/ | grep -q version=v1
'

# HTTPS: "h2" is offered in ALPN (run --no-http2 takes it away).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=berth test CA" -keyout ca.key -out ca.pem 2>/dev/null || exit 1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=h2.test" \
	-keyout h2.key -out h2.csr 2>/dev/null || exit 1
openssl x509 -req -in h2.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
	-extfile <(printf 'subjectAltName=DNS:h2.test\n') -out h2.pem 2>/dev/null || exit 1
start_proxy tp --https-port 0 --http-idle-timeout 1s --state-dir "$TEST_TMP/state3" \
	--socket "$TEST_TMP/ctl3.sock" || exit 1
start_proxy tp1 --https-port 0 --no-http2 --state-dir "$TEST_TMP/state4" \
	--socket "$TEST_TMP/ctl4.sock" || exit 1
HS=$(wait_for_line tp.log 'HTTPS [0-9]+' | sed 's/.* //')
HS1=$(wait_for_line tp1.log 'HTTPS [0-9]+' | sed 's/.* //')
for s in ctl3 ctl4; do
	BERTH_PROXY_SOCKET=$TEST_TMP/$s.sock "$PROXY" deploy web --host h2.test \
		--target 127.0.0.1:$v1_port --tls --tls-certificate-path "$TEST_TMP/h2.pem" \
		--tls-private-key-path "$TEST_TMP/h2.key" --health-check-interval 100ms \
		>/dev/null || exit 1
done
# tls PORT [CURL ARGS] PATH: curl over HTTPS to h2.test on PORT.
tls() {
	local port=$1
	shift
	curl -s --cacert "$TEST_TMP/ca.pem" --resolve "h2.test:$port:127.0.0.1" \
		"${@:1:$#-1}" "https://h2.test:$port${*: -1}"
}

test_expect_success 'over TLS, HTTP/2 is negotiated and the app sees https' '
	tls $HS --http2 -w "|%{http_version}\n" / >out && cat out &&
	grep -q "version=v1" out && grep -q "^|2$" out &&
	tls $HS --http2 /headers >out &&
	grep -qi "^x-forwarded-proto: https$" out &&
	tls $HS1 --http2 -w "|%{http_version}\n" / >out && cat out && grep -q "^|1.1$" out
'

test_expect_success 'over TLS, a big download, an upload and many streams' '
	tls $HS --http2 "/stream?bytes=20000000" | md5sum >tls.sum &&
	curl -s -H "Host: web.test" "$P/stream?bytes=20000000" | md5sum >plain.sum &&
	cmp plain.sum tls.sum &&
	tls $HS --http2 --data-binary @up.bin /echo >tls.out &&
	cmp h1.out tls.out &&
	h2load -n 1000 -c 2 -m 32 --connect-to=127.0.0.1:$HS https://h2.test:$HS/ >load.out 2>&1;
	grep -E "requests:|protocol" load.out &&
	grep -q "Application protocol: h2" load.out &&
	grep -q "1000 succeeded, 0 failed, 0 errored" load.out
'

test_expect_success 'over TLS, rapid reset gets GOAWAY and a shut window a reset' '
	H2RAW_TLS=$TEST_TMP/ca.pem H2RAW_SNI=h2.test $H2RAW $HS reset 400 >out && cat out &&
	grep -q "^goaway 11$" out &&
	H2RAW_TLS=$TEST_TMP/ca.pem H2RAW_SNI=h2.test $H2RAW $HS zerowindow >out && cat out &&
	grep -q "^rst 8$" out
'

start_proxy small --h2c --max-header-kb 8 --target 127.0.0.1:$v1_port \
	--state-dir "$TEST_TMP/state2" --socket "$TEST_TMP/ctl2.sock" || exit 1

test_expect_success 'header fields beyond the head limit get 431' '
	$H2RAW $small_port headers 1000 >out && cat out && grep -q "^status 200$" out &&
	$H2RAW $small_port headers 10000 >out && cat out && grep -q "^status 431$" out
'

test_expect_success 'a stopping proxy sends GOAWAY to its HTTP/2 connections' '
	($H2RAW $small_port wait >wait.out &) &&
	wait_for_line wait.out "^ready" &&
	stop_pid $small_pid &&
	wait_for_line wait.out "^goaway 0$"
'

test_done
