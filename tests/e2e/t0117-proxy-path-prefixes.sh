#!/usr/bin/env bash
# berth-proxy deploy with several --path-prefix (repeated or comma-separated,
# as kamal-proxy takes them; Kamal's proxy.path_prefixes): a request under any
# of them goes to the service, on every host of it, with the prefix it matched
# stripped; conflicts and --take-over per prefix; cookies scoped under the
# matched prefix; the prefixes in `list`, the state file, a restart, and
# import-kamal-state.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app a v1 || exit 1
start_app b v2 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
HC="--health-check-interval 100ms"

svc_json() {
	"$PROXY" list --json | jq -e ".[] | select(.name == \"$1\")"
}

# seen PATH [HOST]: the path and query app b logged for one request through the proxy.
seen() {
	local before i
	before=$(app_requests b)
	curl -s -o /dev/null -H "Host: ${2:-multi.test}" "$P$1"
	for ((i = 0; i < 100; i++)); do
		(($(app_requests b) > before)) && break
		sleep 0.05
	done
	(($(app_requests b) > before)) || { echo "(not seen)"; return; }
	grep -E "^[A-Z]+ [^ ]+ [0-9]{3} " b.log | tail -1 | cut -d" " -f2
}

# who PATH [HOST]: which app (a or b) logged one request through the proxy, and the path
# it saw ("a /v3"); "none" when neither did (the proxy answered itself).
who() {
	local na nb i
	na=$(app_requests a) nb=$(app_requests b)
	curl -s -o /dev/null -H "Host: ${2:-multi.test}" "$P$1"
	for ((i = 0; i < 40; i++)); do
		if (($(app_requests a) > na)); then
			echo "a $(grep -E "^[A-Z]+ [^ ]+ [0-9]{3} " a.log | tail -1 | cut -d" " -f2)"
			return
		fi
		if (($(app_requests b) > nb)); then
			echo "b $(grep -E "^[A-Z]+ [^ ]+ [0-9]{3} " b.log | tail -1 | cut -d" " -f2)"
			return
		fi
		sleep 0.05
	done
	echo none
}

test_expect_success 'several --path-prefix, repeated and comma-separated, all route' '
	"$PROXY" deploy dflt --target 127.0.0.1:$a_port --host multi.test $HC >/dev/null &&
	"$PROXY" deploy api --target 127.0.0.1:$b_port --host multi.test,other.test \
		--path-prefix /api --path-prefix /oauth_callback,/v2/ $HC >/dev/null &&
	test "$(seen /api/users/1?x=1)" = "/users/1?x=1" &&
	test "$(seen /oauth_callback)" = "/" &&
	test "$(seen /oauth_callback/done?code=7)" = "/done?code=7" &&
	test "$(seen /v2/items)" = "/items" &&
	test "$(seen /v2)" = "/" &&
	test "$(seen /api/x other.test)" = "/x" &&
	test "$(who /apix)" = "a /apix" &&
	test "$(who /)" = "a /" &&
	test "$(who /v3)" = "a /v3" &&
	test "$(who /api nowhere.test)" = none
'

test_expect_success 'the prefixes show in list and list --json' '
	"$PROXY" list >out && cat out &&
	grep -qE "^api +multi.test,other.test +/api,/oauth_callback,/v2/ +running " out &&
	svc_json api | jq -e ".path_prefixes == [\"/api\", \"/oauth_callback\", \"/v2/\"]" &&
	svc_json api | jq -e ".path_prefix == \"/api\"" &&
	svc_json dflt | jq -e ".path_prefixes == [\"/\"]"
'

test_expect_success 'prefixes are normalized and the same one given twice is kept once' '
	# one without its leading "/" has it put there, as kamal-proxy does
	"$PROXY" deploy api --target 127.0.0.1:$b_port --host multi.test,other.test \
		--path-prefix "/api,/x/../api/,oauth_callback" --path-prefix /v2/ $HC >/dev/null &&
	svc_json api | jq -e ".path_prefixes == [\"/api\", \"/oauth_callback\", \"/v2/\"]" &&
	test_must_fail "$PROXY" deploy api --target 127.0.0.1:$b_port --host multi.test \
		--path-prefix "/ok,/a?b" 2>err &&
	cat err && grep -q "option .--path-prefix. expects a path" err &&
	svc_json api | jq -e ".hosts == [\"multi.test\", \"other.test\"]"
'

test_expect_success 'with --strip-path-prefix=false every prefix is kept' '
	"$PROXY" deploy api --target 127.0.0.1:$b_port --host multi.test,other.test \
		--path-prefix /api,/oauth_callback,/v2/ --strip-path-prefix=false $HC >/dev/null &&
	test "$(seen /api/users)" = "/api/users" &&
	test "$(seen /v2/items?y=2)" = "/v2/items?y=2" &&
	"$PROXY" deploy api --target 127.0.0.1:$b_port --host multi.test,other.test \
		--path-prefix /api,/oauth_callback,/v2/ $HC >/dev/null &&
	test "$(seen /v2/items)" = "/items"
'

test_expect_success 'cookies are scoped under the prefix the request matched' '
	"$PROXY" deploy api --target 127.0.0.1:$b_port --host multi.test,other.test \
		--path-prefix /api,/oauth_callback,/v2/ --scope-cookie-paths $HC >/dev/null &&
	curl -s -D h -o /dev/null -H "Host: multi.test" \
		"$P/oauth_callback/header?set=Set-Cookie:sid%3D1%3B+Path%3D%2Fcart" &&
	tr -d "\r" <h >h2 && cat h2 &&
	grep -qx "Set-Cookie: sid=1; Path=/oauth_callback/cart" h2 &&
	curl -s -D h -o /dev/null -H "Host: multi.test" "$P/v2/header?set=Set-Cookie:b%3D2" &&
	tr -d "\r" <h >h2 && cat h2 &&
	grep -qx "Set-Cookie: b=2; Path=/v2" h2
'

test_expect_success 'a prefix another service has on the host is refused, naming it' '
	test_must_fail "$PROXY" deploy thief --target 127.0.0.1:$a_port --host other.test \
		--path-prefix /new,/v2 $HC 2>err &&
	cat err &&
	grep -q "host .other.test. with path prefix ./v2. is used by service .api." err &&
	test "$(seen /v2/x other.test)" = "/x" &&
	"$PROXY" deploy thief --target 127.0.0.1:$a_port --host other.test --path-prefix /new,/v2 \
		--take-over $HC >out &&
	cat out && grep -q "took host .other.test. with path prefix ./v2. from service .api." out &&
	test "$(who /v2/x other.test)" = "a /x" &&
	test "$(who /new other.test)" = "a /" &&
	test "$(seen /api/x)" = "/x" &&
	svc_json api | jq -e ".hosts == [\"multi.test\"]" &&
	"$PROXY" remove thief >/dev/null
'

test_expect_success '--take-over of a default service takes only the prefix it wants' '
	"$PROXY" deploy anyhost --target 127.0.0.1:$a_port --path-prefix /metrics,/status \
		$HC >/dev/null &&
	test "$(who /status/x nowhere.test)" = "a /x" &&
	"$PROXY" deploy anyhost2 --target 127.0.0.1:$b_port --path-prefix /status --take-over \
		$HC >out &&
	cat out && grep -q "took every host with path prefix ./status. from service .anyhost." out &&
	! grep -q "removed service .anyhost." out &&
	svc_json anyhost | jq -e ".path_prefixes == [\"/metrics\"]" &&
	test "$(who /status/x nowhere.test)" = "b /x" &&
	test "$(who /metrics nowhere.test)" = "a /" &&
	"$PROXY" deploy anyhost3 --target 127.0.0.1:$b_port --path-prefix /metrics --take-over \
		$HC >out &&
	cat out && grep -q "removed service .anyhost." out &&
	"$PROXY" remove anyhost2 >/dev/null && "$PROXY" remove anyhost3 >/dev/null
'

test_expect_success 'the prefixes are saved and restored' '
	jq -e ".services[] | select(.name == \"api\") | .path_prefixes == [\"/api\", \"/oauth_callback\", \"/v2/\"] and .path_prefix == \"/api\"" \
		state/berth-proxy.json &&
	stop_pid $px_pid &&
	start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state" &&
	wait_for_line px2.log "service .api. restored" &&
	P=http://127.0.0.1:$px2_port &&
	svc_json api | jq -e ".path_prefixes == [\"/api\", \"/oauth_callback\", \"/v2/\"]" &&
	curl -s -o /dev/null -H "Host: multi.test" "$P/oauth_callback/again" &&
	wait_for_line b.log "^GET /again " >/dev/null
'

test_expect_success 'import-kamal-state carries every path prefix of a kamal-proxy service' '
	mkdir -p kstate &&
	cat >kamal.state <<-EOF &&
	[{"name":"k-web","options":{"hosts":["k.test"],"path_prefixes":["/api","/oauth_callback"],
	  "tls_enabled":false,"strip_prefix":true},
	  "target_options":{"health_check_config":{"path":"/up","interval":1000000000,
	  "timeout":5000000000}},"active_targets":["127.0.0.1:$b_port"]}]
	EOF
	"$PROXY" import-kamal-state --state-dir "$TEST_TMP/kstate" <kamal.state 2>err &&
	cat err && ! grep -q "path prefix" err &&
	jq -e ".services[0].path_prefixes == [\"/api\", \"/oauth_callback\"]" kstate/berth-proxy.json &&
	start_proxy px3 --workers 1 --state-dir "$TEST_TMP/kstate" --socket "$TEST_TMP/px3.sock" &&
	wait_for_line px3.log "service .k-web. restored" &&
	BERTH_PROXY_SOCKET=$TEST_TMP/px3.sock "$PROXY" list >out && cat out &&
	grep -qE "^k-web +k.test +/api,/oauth_callback " out &&
	P=http://127.0.0.1:$px3_port &&
	test "$(seen /oauth_callback/z k.test)" = "/z"
'

test_done
