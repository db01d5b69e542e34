#!/usr/bin/env bash
# berth-proxy deploy options that follow kamal-proxy's: --forward-headers,
# --strip-path-prefix, --take-over, --error-pages, and run --https-port. Each
# shows in `list --json` and survives a restart. (TLS itself: t0121.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app a v1 || exit 1
start_app b v2 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" --https-port 0 || exit 1
P=http://127.0.0.1:$px_port
HC="--health-check-interval 100ms"

# svc_json NAME: the service's object of `list --json`.
svc_json() {
	"$PROXY" list --json | jq -e ".[] | select(.name == \"$1\")"
}

test_expect_success 'run --https-port binds an HTTPS listener per worker' '
	hs=$(grep -oE "HTTPS [0-9]+" px.log | sed "s/.* //") &&
	test "$(ss -Htln "( sport = :$hs )" | wc -l)" = 2 &&
	test_must_fail "$PROXY" run --https-port nope --http-port 0 2>err &&
	grep -q "https-port" err
'

test_expect_success 'without --forward-headers a service without TLS trusts X-Forwarded-*' '
	"$PROXY" deploy web --target 127.0.0.1:$a_port $HC >/dev/null &&
	curl -sf -H "X-Forwarded-For: 10.9.8.7" -H "X-Forwarded-Proto: https" \
		-H "Host: inner.example" $P/headers >h &&
	cat h &&
	grep -qix "X-Forwarded-For: 10.9.8.7, 127.0.0.1" h &&
	grep -qix "X-Forwarded-Proto: https" h &&
	svc_json web | jq -e ".forward_headers == true"
'

test_expect_success 'with --forward-headers=false X-Forwarded-* are replaced' '
	"$PROXY" deploy web --target 127.0.0.1:$a_port $HC --forward-headers=false >/dev/null &&
	curl -sf -H "X-Forwarded-For: 10.9.8.7" -H "X-Forwarded-Proto: https" \
		-H "X-Forwarded-Host: front.example" -H "Host: inner.example" $P/headers >h &&
	cat h &&
	test "$(grep -ic "^X-Forwarded-For:" h)" = 1 &&
	grep -qix "X-Forwarded-For: 127.0.0.1" h &&
	grep -qix "X-Forwarded-Proto: http" h &&
	grep -qix "X-Forwarded-Host: inner.example" h &&
	svc_json web | jq -e ".forward_headers == false"
'

test_expect_success 'with --forward-headers the chain is trusted and extended' '
	"$PROXY" deploy web --target 127.0.0.1:$a_port $HC --forward-headers >/dev/null &&
	curl -sf -H "X-Forwarded-For: 10.9.8.7, 10.0.0.1" -H "X-Forwarded-For: 10.0.0.2" \
		-H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: front.example" \
		-H "Host: inner.example" $P/headers >h &&
	cat h &&
	test "$(grep -ic "^X-Forwarded-For:" h)" = 1 &&
	grep -qix "X-Forwarded-For: 10.9.8.7, 10.0.0.1, 10.0.0.2, 127.0.0.1" h &&
	test "$(grep -ic "^X-Forwarded-Proto:" h)" = 1 &&
	grep -qix "X-Forwarded-Proto: https" h &&
	test "$(grep -ic "^X-Forwarded-Host:" h)" = 1 &&
	grep -qix "X-Forwarded-Host: front.example" h &&
	curl -sf -H "Host: inner.example" $P/headers >h2 &&
	grep -qix "X-Forwarded-For: 127.0.0.1" h2 &&
	grep -qix "X-Forwarded-Proto: http" h2 &&
	grep -qix "X-Forwarded-Host: inner.example" h2 &&
	svc_json web | jq -e ".forward_headers == true"
'

# seen PATH [HOST]: the path and query the app logged for one request through the proxy.
seen() {
	local before
	before=$(app_requests b)
	curl -s -o /dev/null -H "Host: ${2:-pre.test}" "$P$1"
	for ((i = 0; i < 100; i++)); do
		(($(app_requests b) > before)) && break
		sleep 0.05
	done
	grep -E "^[A-Z]+ [^ ]+ [0-9]{3} " b.log | tail -1 | cut -d" " -f2
}

test_expect_success '--path-prefix strips the prefix by default, query kept' '
	"$PROXY" deploy pre --target 127.0.0.1:$b_port --host pre.test --path-prefix /app \
		$HC >/dev/null &&
	test "$(seen /app/foo/bar?x=1)" = "/foo/bar?x=1" &&
	test "$(seen /app)" = "/" &&
	test "$(seen /app?x=1)" = "/?x=1" &&
	test "$(seen /app/)" = "/" &&
	svc_json pre | jq -e ".strip_path_prefix == true"
'

test_expect_success '--strip-path-prefix=false keeps the prefix' '
	"$PROXY" deploy pre --target 127.0.0.1:$b_port --host pre.test --path-prefix /app \
		--strip-path-prefix=false $HC >/dev/null &&
	test "$(seen /app/foo?x=1)" = "/app/foo?x=1" &&
	test "$(seen /app)" = "/app" &&
	svc_json pre | jq -e ".strip_path_prefix == false" &&
	"$PROXY" deploy pre --target 127.0.0.1:$b_port --host pre.test --path-prefix /app/ \
		--strip-path-prefix $HC >/dev/null &&
	test "$(seen /app/foo)" = "/foo"
'

test_expect_success 'a host and path another service owns is refused, --take-over takes it' '
	"$PROXY" deploy owner --target 127.0.0.1:$a_port --host one.test,two.test \
		--path-prefix /p $HC >/dev/null &&
	test_must_fail "$PROXY" deploy thief --target 127.0.0.1:$b_port --host two.test \
		--path-prefix /p $HC 2>err &&
	cat err && grep -q "owner" err && grep -q "thief" err &&
	test "$(curl -s -H "Host: two.test" $P/p/ | grep -o "version=v[0-9]")" = version=v1 &&
	"$PROXY" deploy thief --target 127.0.0.1:$b_port --host two.test --path-prefix /p \
		--take-over $HC >out &&
	cat out && grep -q "took host .two.test. .*from service .owner." out &&
	test "$(curl -s -H "Host: two.test" $P/p/ | grep -o "version=v[0-9]")" = version=v2 &&
	test "$(curl -s -H "Host: one.test" $P/p/ | grep -o "version=v[0-9]")" = version=v1 &&
	svc_json owner | jq -e ".hosts == [\"one.test\"]" &&
	svc_json thief | jq -e ".hosts == [\"two.test\"]"
'

test_expect_success '--take-over drops a service left without routes' '
	"$PROXY" deploy thief2 --target 127.0.0.1:$b_port --host one.test --path-prefix /p \
		--take-over $HC >out &&
	cat out && grep -q "removed service .owner." out &&
	test_must_fail svc_json owner &&
	test "$(curl -s -H "Host: one.test" $P/p/ | grep -o "version=v[0-9]")" = version=v2 &&
	jq -e "[.services[].name] | index(\"owner\") == null" state/berth-proxy.json &&
	"$PROXY" remove thief >/dev/null && "$PROXY" remove thief2 >/dev/null
'

test_expect_success '--take-over takes the default route of another service' '
	"$PROXY" deploy dflt --target 127.0.0.1:$b_port --path-prefix /d $HC >/dev/null &&
	test_must_fail "$PROXY" deploy dflt2 --target 127.0.0.1:$a_port --path-prefix /d \
		$HC 2>err &&
	grep -q "dflt" err && grep -q "dflt2" err &&
	"$PROXY" deploy dflt2 --target 127.0.0.1:$a_port --path-prefix /d --take-over $HC >out &&
	grep -q "removed service .dflt." out &&
	test "$(curl -s $P/d/ | grep -o "version=v[0-9]")" = version=v1 &&
	"$PROXY" remove dflt2 >/dev/null
'

# The error pages: a large 502 (to be written in several steps), a 503 template; no 504.
mkdir -p pages
{ echo "<html><body><h1>Bad gateway page</h1><pre>"; for ((i = 0; i < 3000; i++)); do echo "line $i of the big page padding padding padding"; done; echo "</pre>end-of-502</body></html>"; } >pages/502.html
echo "<html><body><h1>Maintenance</h1><p>{{ .Message }}</p></body></html>" >pages/503.html

test_expect_success '--error-pages must name a readable directory of small pages' '
	test_must_fail "$PROXY" deploy errs --target 127.0.0.1:$a_port --error-pages pages \
		2>err && grep -q "absolute path" err &&
	test_must_fail "$PROXY" deploy errs --target 127.0.0.1:$a_port \
		--error-pages "$TEST_TMP/nope" 2>err && grep -q "cannot read error pages" err &&
	mkdir -p bigpages && head -c 300000 /dev/zero | tr "\0" x >bigpages/504.html &&
	test_must_fail "$PROXY" deploy errs --target 127.0.0.1:$a_port \
		--error-pages "$TEST_TMP/bigpages" 2>err && grep -q "larger than 256 KiB" err &&
	test_must_fail svc_json errs
'

test_expect_success 'the proxy answers 503 (stop) and 502 with the pages, 504 with its own' '
	start_app c v3 &&
	"$PROXY" deploy errs --target 127.0.0.1:$c_port --host err.test $HC \
		--error-pages "$TEST_TMP/pages" --target-timeout 300ms >/dev/null &&
	svc_json errs | jq -e ".error_pages == \"$TEST_TMP/pages\" and .error_pages_loaded == [502, 503]" &&
	curl -s -H "Host: err.test" -D hdr -o body "$P/slow?ms=3000" &&
	grep -q "^HTTP/1.1 504 " hdr && grep -qi "^Content-Type: text/plain" hdr &&
	grep -qx "504 Gateway Timeout" body &&
	"$PROXY" stop errs --message "Back <soon> & \"later\"" >/dev/null &&
	curl -s -H "Host: err.test" -D hdr -o body $P/ &&
	grep -q "^HTTP/1.1 503 " hdr && grep -qi "^Content-Type: text/html" hdr &&
	grep -qF "<p>Back &lt;soon&gt; &amp; &quot;later&quot;</p>" body &&
	"$PROXY" resume errs >/dev/null &&
	curl -sf -H "Host: err.test" $P/ | grep -q version=v3 &&
	kill $c_pid &&
	curl -s -H "Host: err.test" -D hdr -o body $P/ &&
	grep -q "^HTTP/1.1 502 " hdr && grep -qi "^Content-Type: text/html" hdr &&
	cmp body pages/502.html &&
	curl -s -H "Host: err.test" -D hdr -o body $P/ && cmp body pages/502.html
'

test_expect_success 'a stop without a message fills the page with nothing; other services are plain' '
	"$PROXY" stop errs >/dev/null &&
	curl -s -H "Host: err.test" -o body $P/ && grep -qF "<p></p>" body &&
	"$PROXY" stop web --message "plain one" >/dev/null &&
	curl -s -D hdr -o body $P/ && grep -qi "^Content-Type: text/plain" hdr &&
	grep -qx "plain one" body &&
	"$PROXY" resume web >/dev/null &&
	"$PROXY" deploy errs --target 127.0.0.1:$a_port --host err.test $HC \
		--error-pages "$TEST_TMP/pages" >/dev/null &&
	"$PROXY" stop errs --message "after <restart>" >/dev/null
'

test_expect_success 'the options survive a restart' '
	"$PROXY" deploy web --target 127.0.0.1:$a_port $HC --forward-headers >/dev/null &&
	"$PROXY" deploy pre --target 127.0.0.1:$b_port --host pre.test --path-prefix /app \
		--strip-path-prefix=false $HC >/dev/null &&
	"$PROXY" deploy pre2 --target 127.0.0.1:$b_port --host pre2.test --path-prefix /app \
		$HC >/dev/null &&
	stop_pid $px_pid &&
	start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state" &&
	wait_for_line px2.log "service .pre2. restored" &&
	wait_for_line px2.log "service .web. restored" &&
	wait_for_line px2.log "service .pre. restored" &&
	P=http://127.0.0.1:$px2_port &&
	svc_json web | jq -e ".forward_headers == true" &&
	svc_json pre | jq -e ".strip_path_prefix == false" &&
	svc_json pre2 | jq -e ".strip_path_prefix == true" &&
	curl -sf -H "X-Forwarded-For: 10.9.8.7" $P/headers | grep -qix "X-Forwarded-For: 10.9.8.7, 127.0.0.1" &&
	test "$(seen /app/foo)" = "/app/foo" &&
	test "$(seen /app/foo pre2.test)" = "/foo" &&
	wait_for_line px2.log "service .errs. restored" &&
	svc_json errs | jq -e ".error_pages_loaded == [502, 503] and .state == \"stopped\"" &&
	curl -s -H "Host: err.test" -o body $P/ && grep -qF "<p>after &lt;restart&gt;</p>" body
'

test_done
