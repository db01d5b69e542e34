#!/usr/bin/env bash
# TLS termination: certificates per host by SNI (files, or stdin through the
# control socket), the redirect from plain HTTP, HSTS, X-Forwarded-Proto,
# streams, uploads, WebSockets and resumption over TLS, old protocols and
# weak ciphers refused, and TLS kept across a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

# A CA, then leaves signed by it: leaf NAME SAN...
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=berth test CA" -keyout ca.key -out ca.pem 2>/dev/null || exit 1
leaf() {
	local name=$1 san
	shift
	san=$(printf 'DNS:%s,' "$@")
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$name.key" -out "$name.csr" 2>/dev/null &&
		openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 1 -extfile <(printf 'subjectAltName=%s\n' "${san%,}") \
			-out "$name.pem" 2>/dev/null
}
leaf a a.test || exit 1
leaf b b.test || exit 1
leaf w '*.w.test' || exit 1
leaf s s.test || exit 1

start_app v1 v1 || exit 1
start_app slow slow --ready-delay-ms 1500 || exit 1
WS=$TEST_TMP/wsclient
gcc -std=c11 -D_GNU_SOURCE -O2 -o "$WS" "$TOP/tests/fixtures/testapp/wsclient.c" || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --https-port 0 --state-dir "$TEST_TMP/state" \
	--access-log "$TEST_TMP/access.log" --metrics-port 0 || exit 1
HS=$(wait_for_line px.log 'HTTPS [0-9]+' | sed 's/.* //')
M=http://127.0.0.1:$(wait_for_line px.log 'metrics on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')/metrics
P=http://127.0.0.1:$px_port

# tcurl NAME [CURL ARGS] PATH: curl over HTTPS to NAME, which resolves to the proxy.
tcurl() {
	local name=$1
	shift
	curl -s --cacert "$TEST_TMP/ca.pem" --resolve "$name:$HS:127.0.0.1" \
		"${@:1:$#-1}" "https://$name:$HS${*: -1}"
}

deploy_tls() {
	local name=$1 host=$2 cert=$3
	shift 3
	"$PROXY" deploy "$name" --target 127.0.0.1:$v1_port --host "$host" --tls \
		--tls-certificate-path "$TEST_TMP/$cert.pem" \
		--tls-private-key-path "$TEST_TMP/$cert.key" --health-check-interval 100ms "$@"
}

test_expect_success 'deploy --tls checks its flags' '
	test_must_fail "$PROXY" deploy x --target 127.0.0.1:$v1_port --tls 2>err &&
	grep "needs at least one .--host." err &&
	test_must_fail "$PROXY" deploy x --target 127.0.0.1:$v1_port --host x.test --tls \
		--tls-certificate-path "$TEST_TMP/a.pem" 2>err &&
	grep "go together" err &&
	test_must_fail "$PROXY" deploy x --target 127.0.0.1:$v1_port --host x.test --tls \
		--tls-certificate-path "$TEST_TMP/a.pem" \
		--tls-private-key-path "$TEST_TMP/b.key" 2>err &&
	cat err && grep -i "match" err &&
	test_must_fail "$PROXY" deploy x --target 127.0.0.1:$v1_port --host x.test \
		--hsts-max-age 1h 2>err &&
	grep "needs .--tls." err &&
	"$PROXY" list --json >list && ! grep -q "\"x\"" list
'

test_expect_success 'each host gets its own certificate, found by SNI' '
	deploy_tls a a.test a >/dev/null &&
	deploy_tls b b.test b --tls-redirect=false >/dev/null &&
	deploy_tls w "*.w.test" w --hsts-max-age 1h >/dev/null &&
	tcurl a.test -f / | grep version=v1 &&
	tcurl b.test -f / | grep version=v1 &&
	tcurl x.w.test -f / | grep version=v1 &&
	echo | openssl s_client -connect 127.0.0.1:$HS -servername b.test 2>/dev/null |
		grep "subject=CN = b.test" &&
	echo | openssl s_client -connect 127.0.0.1:$HS -servername a.test 2>/dev/null |
		grep "subject=CN = a.test"
'

test_expect_success 'a name no service has fails the handshake' '
	test_must_fail tcurl nobody.test -f / &&
	test_must_fail tcurl y.x.w.test -f / &&
	curl -sf $M >scrape &&
	grep "^berth_proxy_tls_handshake_failures_total [1-9]" scrape &&
	grep "^berth_proxy_tls_handshakes_total [1-9]" scrape
'

test_expect_success 'plain HTTP is redirected to HTTPS, path and query kept' '
	curl -si -H "Host: a.test" "$P/some/path?q=1&r=two" >out &&
	tr -d "\r" <out >out.lf && cat out.lf &&
	head -1 out.lf | grep "^HTTP/1.1 301" &&
	grep -x "Location: https://a.test:$HS/some/path?q=1&r=two" out.lf &&
	curl -si -H "Host: b.test" "$P/" >out &&
	head -1 out | grep "^HTTP/1.1 200" && grep version=v1 out
'

test_expect_success 'HSTS on HTTPS responses when asked for' '
	tcurl x.w.test -sfi / | tr -d "\r" >out &&
	grep -ix "Strict-Transport-Security: max-age=3600" out &&
	tcurl a.test -sfi / >out &&
	! grep -i strict-transport out
'

test_expect_success 'the app sees X-Forwarded-Proto https, and the log the scheme' '
	tcurl a.test -f -H "X-Forwarded-Proto: gopher" -H "X-Request-ID: tls-1" /headers >out &&
	cat out &&
	grep -x "X-Forwarded-Proto: https" out &&
	! grep gopher out &&
	curl -sf -H "Host: b.test" -H "X-Request-ID: plain-1" $P/headers >out &&
	grep -x "X-Forwarded-Proto: http" out &&
	wait_for_line access.log "\"request_id\":\"plain-1\"" &&
	grep "\"request_id\":\"tls-1\".*\"scheme\":\"https\"" access.log &&
	grep "\"request_id\":\"plain-1\".*\"scheme\":\"http\"" access.log
'

test_expect_success 'a big download and an upload over TLS' '
	tcurl a.test -f "/stream?bytes=30000000" >big &&
	test "$(wc -c <big)" = 30000000 &&
	head -c 20000000 /dev/urandom >up &&
	tcurl a.test -f -X POST --data-binary @up /echo >out &&
	cat out &&
	grep "len=20000000 sum=$("$WS" --fnv1a up) " out
'

test_expect_success 'server-sent events over TLS arrive one by one' '
	tcurl a.test -fN "/sse?n=4&ms=50" >out &&
	test "$(grep -c "^data: event" out)" = 4
'

test_expect_success 'a WebSocket over TLS' '
	"$PROXY" deploy any --target 127.0.0.1:$v1_port --health-check-interval 100ms >/dev/null &&
	rport=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])") &&
	{ socat TCP-LISTEN:$rport,bind=127.0.0.1,reuseaddr,fork \
		OPENSSL:127.0.0.1:$HS,cafile=$TEST_TMP/ca.pem,commonname=a.test,snihost=a.test \
		2>socat.log & } &&
	relay=$! &&
	test_cleanup "kill $relay" &&
	for i in $(seq 100); do ss -Htln "( sport = :$rport )" | grep -q . && break; sleep 0.05; done &&
	"$WS" $rport &&
	kill $relay
'

# resume [S_CLIENT ARGS]: a first connection saves its session (after a whole request, so
# that TLS 1.3's tickets, which come after the handshake, are in), a second one offers it.
resume() {
	printf "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n" |
		openssl s_client -ign_eof "$@" -connect 127.0.0.1:$HS -servername a.test \
			-sess_out sess.pem >first 2>&1 &&
		grep -q version=v1 first &&
		echo | openssl s_client "$@" -connect 127.0.0.1:$HS -servername a.test \
			-sess_in sess.pem >second 2>&1 &&
		grep "^Reused" second
}

test_expect_success 'TLS sessions are resumed' '
	resume -tls1_3 &&
	resume -tls1_2 &&
	resume -tls1_2 -no_ticket
'

test_expect_success 'TLS 1.0 and 1.1 and weak ciphers are refused' '
	test_must_fail openssl s_client -tls1_1 -connect 127.0.0.1:$HS -servername a.test \
		</dev/null >out 2>&1 &&
	test_must_fail openssl s_client -tls1 -connect 127.0.0.1:$HS -servername a.test \
		</dev/null >out 2>&1 &&
	for c in AES128-SHA AES256-SHA ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384 \
		DES-CBC3-SHA; do
		test_must_fail openssl s_client -tls1_2 -cipher $c -connect 127.0.0.1:$HS \
			-servername a.test </dev/null >out 2>&1 || return 1
	done &&
	sslscan --no-colour --sni-name=a.test 127.0.0.1:$HS >scan &&
	cat scan &&
	grep -E "^TLSv1\.0 +disabled" scan &&
	grep -E "^TLSv1\.1 +disabled" scan &&
	! grep -E "^(Preferred|Accepted) .*(CBC|SHA |RC4|DES|NULL|MD5)" scan
'

test_expect_success '--tls-certificate-stdin stores the files, no PEM in any argv' '
	cat s.pem s.key >bundle &&
	"$PROXY" deploy s --target 127.0.0.1:$slow_port --host s.test --tls \
		--tls-certificate-stdin --health-check-interval 100ms <bundle >deploy.out 2>&1 &
	dpid=$! &&
	found=0 &&
	for i in $(seq 20); do
		for f in /proc/[0-9]*/cmdline; do
			grep -lq -- "-----BEGIN" "$f" 2>/dev/null && found=1
		done
		sleep 0.05
	done &&
	wait $dpid &&
	cat deploy.out &&
	test $found = 0 &&
	test "$(stat -c %a state/tls/s/cert.pem)" = 600 &&
	test "$(stat -c %a state/tls/s/key.pem)" = 600 &&
	cmp state/tls/s/key.pem s.key &&
	tcurl s.test -f / | grep version=slow &&
	! grep -q "BEGIN" state/berth-proxy.json &&
	"$PROXY" list --json >list &&
	cat list &&
	! grep -q "BEGIN" list &&
	grep -q "\"certificate_path\":\"[^\"]*/tls/s/cert.pem\"" list &&
	grep -q "\"source\":\"files\",\"status\":\"ok\"" list
'

test_expect_success 'a restart restores TLS' '
	stop_pid $px_pid &&
	start_proxy px2 --workers 1 --https-port 0 --state-dir "$TEST_TMP/state" \
		--http-read-timeout 1s &&
	HS=$(wait_for_line px2.log "HTTPS [0-9]+" | sed "s/.* //") &&
	for i in $(seq 100); do tcurl a.test -f / >out 2>/dev/null && break; sleep 0.05; done &&
	grep version=v1 out &&
	tcurl s.test -f / | grep version=slow &&
	curl -si -H "Host: a.test" "http://127.0.0.1:$px2_port/r?x=1" | tr -d "\r" >out &&
	grep -x "Location: https://a.test:$HS/r?x=1" out
'

test_expect_success 'without an HTTPS listener a TLS service is not redirected' '
	start_proxy nohttps --workers 1 --state-dir "$TEST_TMP/state-plain" \
		--socket "$TEST_TMP/plain.sock" &&
	BERTH_PROXY_SOCKET=$TEST_TMP/plain.sock deploy_tls a a.test a >/dev/null &&
	curl -si -H "Host: a.test" "http://127.0.0.1:$nohttps_port/" >out &&
	head -1 out | grep "^HTTP/1.1 200"
'

HS=$(grep -oE "HTTPS [0-9]+" px2.log | sed "s/.* //")
test_expect_success 'a handshake that does not finish within the read timeout is closed' '
	timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HS; cat <&3" &&
	timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HS; printf \"\\x16\\x03\\x01\" >&3; cat <&3"
'

test_done
