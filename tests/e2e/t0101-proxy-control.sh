#!/usr/bin/env bash
# berth-proxy's control socket: deploy (health-gated), routing by host and
# path, conflicts, remove, list, and state restored after a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app a v1 || exit 1
start_app b v2 || exit 1
start_app never v3 --never-ready || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port

# version_of HOST URL: the X-App-Version of the app that answered.
version_of() {
	curl -s -o /dev/null -D - -H "Host: $1" "$2" | tr -d "\r" | sed -n "s/^X-App-Version: //p"
}

test_expect_success 'without services every request is 404' '
	test $(curl -s -o /dev/null -w "%{http_code}" $P/) = 404
'

test_expect_success 'deploy routes the default service once its target is healthy' '
	"$PROXY" deploy web --target 127.0.0.1:$a_port >out &&
	grep -q "deployed .web." out &&
	curl -sf $P/ | grep -q version=v1
'

test_expect_success 'a deploy to a target that never becomes healthy changes nothing' '
	test_must_fail "$PROXY" deploy web --target 127.0.0.1:$never_port \
		--deploy-timeout 2s --health-check-interval 200ms >out 2>err &&
	cat err &&
	grep -q "127.0.0.1:$never_port" err &&
	grep -q "status 503" err &&
	curl -sf $P/ | grep -q version=v1
'

test_expect_success 'a deploy to a closed port says what the checks saw' '
	start_app gone v0 && stop_pid $gone_pid &&
	test_must_fail "$PROXY" deploy web --target 127.0.0.1:$gone_port --deploy-timeout 1s \
		2>err &&
	grep -q "Connection refused" err &&
	curl -sf $P/ | grep -q version=v1
'

test_expect_success 'hosts, wildcards and path prefixes route to their services' '
	"$PROXY" deploy api --target 127.0.0.1:$b_port --host api.test --path-prefix /v2 &&
	"$PROXY" deploy wild --target 127.0.0.1:$b_port --host "*.wild.test" &&
	test "$(version_of api.test $P/v2/x)" = v2 &&
	test "$(version_of api.test $P/v2)" = v2 &&
	test "$(version_of api.test $P/v2x)" = v1 &&
	test "$(version_of api.test $P/other)" = v1 &&
	test "$(version_of x.wild.test $P/)" = v2 &&
	test "$(version_of elsewhere.test $P/)" = v1
'

test_expect_success 'a host and path another service owns is refused with both names' '
	test_must_fail "$PROXY" deploy thief --target 127.0.0.1:$a_port --host api.test \
		--path-prefix /v2 2>err &&
	grep -q "api" err && grep -q "thief" err &&
	test_must_fail "$PROXY" deploy thief2 --target 127.0.0.1:$a_port 2>err &&
	grep -q "web" err && grep -q "thief2" err
'

test_expect_success 'list shows the services, also as JSON' '
	"$PROXY" list >out && cat out &&
	grep -q "^web .*127.0.0.1:$a_port" out &&
	grep -q "^api .*api.test .*/v2" out &&
	"$PROXY" list --json >json &&
	jq -e "length == 3" json
'

test_expect_success 'the state is saved atomically and restored at start' '
	jq -e ".services | map(.name) | sort == [\"api\",\"web\",\"wild\"]" state/berth-proxy.json &&
	stop_pid $px_pid &&
	start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state" &&
	wait_for_line px2.log "service .web. restored" &&
	wait_for_line px2.log "service .api. restored" &&
	curl -sf http://127.0.0.1:$px2_port/ | grep -q version=v1 &&
	test "$(version_of api.test http://127.0.0.1:$px2_port/v2)" = v2
'

test_expect_success 'remove takes a service out' '
	port=$(wait_for_line px2.log "listening on port [0-9]+") && port=${port##* } &&
	"$PROXY" remove api &&
	test "$(version_of api.test http://127.0.0.1:$port/v2)" = v1 &&
	test_must_fail "$PROXY" remove api 2>err && grep -q "no service" err
'

test_done
