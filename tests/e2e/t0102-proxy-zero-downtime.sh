#!/usr/bin/env bash
# The zero-downtime switch: requests keep flowing (short and long ones,
# uploads, on keep-alive connections) while the service is deployed back and
# forth between two versions; none fails, every answer comes from a healthy
# version, and a deploy to a version that never becomes healthy leaves the
# old one serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
start_app v3 v3 --never-ready || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$v1_port >/dev/null || exit 1
head -c 200000 /dev/urandom >"$TEST_TMP/body"

start_load() {
	rm -f "$TEST_TMP/stop"
	load_loop load1 $P/ $P/ $P/ $P/ $P/ &
	load_loop load2 "$P/slow?ms=300" $P/ "$P/slow?ms=100" &
	load_loop load3 --data-binary @"$TEST_TMP/body" $P/echo $P/echo $P/echo &
	load_loop load4 $P/ &
}
stop_load() {
	touch "$TEST_TMP/stop"
	wait
}

test_expect_success 'no request fails while the service switches versions 10 times' '
	start_load &&
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if ((i % 2)); then to=$v2_port; else to=$v1_port; fi
		"$PROXY" deploy web --target 127.0.0.1:$to --drain-timeout 10s \
			--health-check-interval 100ms >>deploys || exit 1
		sleep 0.3
	done &&
	stop_load &&
	cat deploys &&
	for f in load1 load2 load3 load4; do check_load $f "v1|v2" || exit 1; done &&
	grep -q "version=v1" load1 && grep -q "version=v2" load1 &&
	grep -q "slow ms=300 version=" load2 &&
	test "$(grep -c "^len=200000 " load3)" = "$(grep -c "^|" load3)"
'

test_expect_success 'in-flight requests finish on the version that took them' '
	v=$(curl -s -D - -o /dev/null $P/ | tr -d "\r" | sed -n "s/^X-App-Version: //p") &&
	(curl -s "$P/slow?ms=1500" >slow &) &&
	wait_for_line v$v.log "GET /slow" >/dev/null || true;
	sleep 0.3 &&
	if test $v = v1; then to=$v2_port; else to=$v1_port; fi &&
	"$PROXY" deploy web --target 127.0.0.1:$to >out &&
	cat out slow &&
	grep -q "1 old target(s) drained" out &&
	grep -q "slow ms=1500 version=$v" slow
'

test_expect_success 'a deploy to a never-ready version fails and the old one keeps serving' '
	v=$(curl -s -D - -o /dev/null $P/ | tr -d "\r" | sed -n "s/^X-App-Version: //p") &&
	start_load &&
	test_must_fail "$PROXY" deploy web --target 127.0.0.1:$v3_port --deploy-timeout 2s \
		--health-check-interval 200ms 2>err &&
	stop_load &&
	cat err &&
	grep -q "status 503" err &&
	for f in load1 load2 load4; do check_load $f "v1|v2" || exit 1; done &&
	! grep -h "version=v3" load1 load2 load3 load4 &&
	curl -sf $P/ | grep -q "version=$v"
'

test_done
