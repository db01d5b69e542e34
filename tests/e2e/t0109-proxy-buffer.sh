#!/usr/bin/env bash
# berth-proxy deploy --buffer-requests: the request body is read whole
# before the app is contacted (a slow upload never holds an app
# connection), a chunked body reaches the app with a Content-Length, and a
# body over --max-request-body gets 413 without the app seeing anything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app d v1 || exit 1
start_app e v2 || exit 1
start_app f v3 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
HC="--health-check-interval 100ms"

# slow_post HOST APP_PORT OUT [chunked]: POST /echo?mirror=1 with a 20-byte body sent 2
# bytes every 100 ms; "mid N" (connections to the app halfway through) and then the
# response go to OUT.
slow_post() {
	local fd i
	exec {fd}<>"/dev/tcp/127.0.0.1/$px_port"
	if [[ ${4:-} == chunked ]]; then
		printf "POST /echo?mirror=1 HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" "$1" >&$fd
	else
		printf "POST /echo?mirror=1 HTTP/1.1\r\nHost: %s\r\nContent-Length: 20\r\nConnection: close\r\n\r\n" "$1" >&$fd
	fi
	for ((i = 0; i < 10; i++)); do
		if [[ ${4:-} == chunked ]]; then
			printf "2\r\nab\r\n" >&$fd
		else
			printf "ab" >&$fd
		fi
		sleep 0.1
		if ((i == 5)); then
			echo "mid $(conns_to $2)" >"$3"
		fi
	done
	if [[ ${4:-} == chunked ]]; then
		printf "0\r\n\r\n" >&$fd
	fi
	timeout 5 cat <&$fd | tr -d "\r" >>"$3"
	exec {fd}<&-
}

test_expect_success 'without --buffer-requests the app is connected during an upload' '
	"$PROXY" deploy plain --target 127.0.0.1:$d_port --host plain.test $HC >/dev/null &&
	slow_post plain.test $d_port out &&
	cat out &&
	grep -qx "mid 1" out && grep -q "^HTTP/1.1 200" out && grep -qx "abababababababababab" out
'

test_expect_success 'with --buffer-requests the app is contacted after the last byte' '
	"$PROXY" deploy buf --target 127.0.0.1:$e_port --host buf.test $HC --buffer-requests \
		>/dev/null &&
	"$PROXY" list --json | jq -e ".[] | select(.name == \"buf\") | .buffer_requests == true" &&
	before=$(app_requests e) &&
	slow_post buf.test $e_port out &&
	cat out &&
	grep -qx "mid 0" out && grep -q "^HTTP/1.1 200" out && grep -qx "abababababababababab" out &&
	test "$(app_requests e)" = $((before + 1))
'

# Each slow upload goes to an app the proxy has no pooled connection to yet.
test_expect_success 'a slow chunked body reaches the app with a Content-Length' '
	"$PROXY" deploy bufc --target 127.0.0.1:$f_port --host bufc.test $HC --buffer-requests \
		>/dev/null &&
	slow_post bufc.test $f_port out chunked &&
	cat out &&
	grep -qx "mid 0" out && grep -qx "abababababababababab" out &&
	printf "hello world" >hw &&
	curl -sf -H "Host: buf.test" -H "Transfer-Encoding: chunked" --data-binary @hw \
		$P/headers >h &&
	cat h &&
	grep -qix "Content-Length: 11" h && test_must_fail grep -qi "^Transfer-Encoding" h
'

test_expect_success 'large bodies (through a temporary file), both framings, arrive whole' '
	head -c 3000000 /dev/urandom >big &&
	curl -sf -H "Host: buf.test" --data-binary @big "$P/echo?mirror=1" >back &&
	cmp big back &&
	curl -sf -H "Host: buf.test" -H "Transfer-Encoding: chunked" --data-binary @big \
		"$P/echo?mirror=1" >back &&
	cmp big back &&
	printf "small" >small &&
	curl -sf -H "Host: buf.test" --data-binary @small "$P/echo?mirror=1" >back &&
	cmp small back
'

test_expect_success 'a body over --max-request-body gets 413 and the app sees nothing' '
	"$PROXY" deploy buf --target 127.0.0.1:$e_port --host buf.test $HC --buffer-requests \
		--max-request-body 100 >/dev/null &&
	before=$(app_requests e) &&
	head -c 200 /dev/zero | tr "\0" x >body200 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: buf.test" \
		-H "Transfer-Encoding: chunked" --data-binary @body200 $P/echo)" = 413 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: buf.test" \
		--data-binary @body200 $P/echo)" = 413 &&
	head -c 100 /dev/zero | tr "\0" x >body100 &&
	curl -sf -H "Host: buf.test" -H "Transfer-Encoding: chunked" --data-binary @body100 \
		$P/echo | grep -q "^len=100 " &&
	test "$(app_requests e)" = $((before + 1))
'

test_expect_success '--buffer-requests survives a restart' '
	stop_pid $px_pid &&
	start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state" &&
	wait_for_line px2.log "service .buf. restored" &&
	"$PROXY" list --json | jq -e ".[] | select(.name == \"buf\") | .buffer_requests == true and .max_request_body == 100" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: buf.test" \
		-H "Transfer-Encoding: chunked" --data-binary @body200 \
		http://127.0.0.1:$px2_port/echo)" = 413
'

test_done
