#!/usr/bin/env bash
# rollout: a second set of targets takes the requests whose rollout cookie
# (set by the app, e.g. to an account id) is listed or hashes into the
# chosen percentage; a client sticks to its side; stop ends the rollout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
start_app v3 v3 || exit 1
start_app v4 v4 || exit 1
start_app v5 v5 --never-ready || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$v1_port --health-check-interval 100ms >/dev/null || exit 1

# version [COOKIE_VALUE]: the version that answers a request with that rollout cookie.
version() {
	curl -s ${1:+-b "kamal-rollout=$1"} -D - -o /dev/null ${P2:-$P}/ | tr -d "\r" |
		sed -n "s/^X-App-Version: //p"
}

test_expect_success 'rollout deploy adds targets that take nothing at 0%' '
	"$PROXY" rollout deploy web --target 127.0.0.1:$v2_port >out &&
	cat out && grep -q "rollout of .web." out &&
	for v in a b c d e f g h; do test "$(version $v)" = v1; done &&
	test "$(version)" = v1 &&
	"$PROXY" list | grep -q "rollout 0%:127.0.0.1:$v2_port"
'

test_expect_success 'at 100% every request with the cookie goes to the rollout, none without' '
	"$PROXY" rollout set web --percent 100 &&
	for v in a b c d e f g h; do test "$(version $v)" = v2; done &&
	test "$(version)" = v1 &&
	test "$(curl -s -b "berth-rollout=x; other=1" $P/ | grep -o "version=v[0-9]")" = version=v2
'

test_expect_success 'at 50% both sides get requests, and each value sticks to its side' '
	"$PROXY" rollout set web --percent 50 &&
	for i in $(seq 40); do echo "acct-$i $(version acct-$i)"; done >split &&
	grep -q " v1$" split && grep -q " v2$" split &&
	for i in 1 2 3 4 5 6 7 8; do
		want=$(sed -n "s/^acct-$i //p" split) &&
		for j in 1 2 3; do test "$(version acct-$i)" = "$want"; done || exit 1
	done
'

test_expect_success 'listed values always take the rollout' '
	"$PROXY" rollout set web --percent 0 --list acct-7,acct-9 &&
	test "$(version acct-7)" = v2 && test "$(version acct-9)" = v2 &&
	test "$(version acct-8)" = v1
'

test_expect_success 'a deploy of the main targets keeps the rollout' '
	"$PROXY" deploy web --target 127.0.0.1:$v3_port --health-check-interval 100ms >/dev/null &&
	test "$(version acct-7)" = v2 && test "$(version acct-8)" = v3
'

test_expect_success 'the rollout is saved and restored' '
	jq -e ".services[0].rollout | .percent == 0 and .list == [\"acct-7\",\"acct-9\"] and
		.targets == [\"127.0.0.1:$v2_port\"]" state/berth-proxy.json &&
	stop_pid $px_pid &&
	start_proxy px2 --workers 1 --state-dir "$TEST_TMP/state" &&
	wait_for_line px2.log "service .web. restored" &&
	P2=http://127.0.0.1:$px2_port &&
	test "$(P2=$P2 version acct-7)" = v2 && test "$(P2=$P2 version acct-8)" = v3 &&
	echo $px2_port >px2.port
'

test_expect_success 'rollout stop sends everything back to the main targets' '
	P2=http://127.0.0.1:$(cat px2.port) &&
	"$PROXY" rollout stop web >out && grep -q stopped out &&
	test "$(P2=$P2 version acct-7)" = v3 &&
	test_must_fail "$PROXY" rollout set web --percent 10 2>err &&
	grep -q "no rollout" err
'

test_expect_success 'rollout deploy returns only once the rollout targets are healthy' '
	P2=http://127.0.0.1:$(cat px2.port) &&
	curl -sf "127.0.0.1:$v4_port/control/ready?value=0" >/dev/null &&
	{ (sleep 1; curl -sf "127.0.0.1:$v4_port/control/ready?value=1" >/dev/null) & } &&
	"$PROXY" rollout deploy web --target 127.0.0.1:$v4_port --deploy-timeout 20s >out &&
	curl -sf 127.0.0.1:$v4_port/up &&
	"$PROXY" rollout set web --percent 100 &&
	test "$(P2=$P2 version acct-1)" = v4 &&
	test_must_fail "$PROXY" rollout deploy web --target 127.0.0.1:$v5_port \
		--deploy-timeout 1s 2>err &&
	grep -q "did not become healthy" err &&
	"$PROXY" list | grep -q "rollout 100%:127.0.0.1:$v4_port" &&
	test "$(P2=$P2 version acct-1)" = v4
'

test_expect_success 'an unhealthy rollout target gets no traffic until it is healthy again' '
	P2=http://127.0.0.1:$(cat px2.port) &&
	curl -sf "127.0.0.1:$v4_port/control/ready?value=0" >/dev/null &&
	for i in $(seq 100); do
		test "$(P2=$P2 version acct-1)" = v3 && break
		sleep 0.05
	done &&
	before=$(app_requests v4) &&
	for i in $(seq 10); do test "$(P2=$P2 version acct-$i)" = v3 || exit 1; done &&
	grep -c "GET / " v4.log >n1 &&
	sleep 0.3 &&
	test "$(grep -c "GET / " v4.log)" = "$(cat n1)" &&
	curl -sf "127.0.0.1:$v4_port/control/ready?value=1" >/dev/null &&
	for i in $(seq 100); do
		test "$(P2=$P2 version acct-1)" = v4 && break
		sleep 0.05
	done &&
	test "$(P2=$P2 version acct-2)" = v4
'

test_done
