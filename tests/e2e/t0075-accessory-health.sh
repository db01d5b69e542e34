#!/usr/bin/env bash
# berth accessory boot waits for an accessory to be up: running, and healthy
# when it has a health check; one that exits, or whose check fails, fails the
# boot with the reason, the check's answers and its last log lines. An
# accessory with a proxy: section is routed by berth-proxy while it runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

reg=$LAB_REGISTRY
acc=$reg/$T-acc:1
accessory_image "$acc"
test_cleanup "on $h1 'docker rm -f $T-good $T-sick $T-dies $T-plain $T-web; docker rmi -f $acc; docker exec berth-proxy berth-proxy remove $T-web'"

write_config \
	"accessories:" \
	"  good:" \
	"    image: $acc" \
	"    host: $h1" \
	"    options:" \
	"      entrypoint: /busybox" \
	"      health-cmd: /busybox test -e /ready" \
	"      health-interval: 1s" \
	"      health-retries: 10" \
	"    cmd: sh -c \"/busybox sleep 2; /busybox touch /ready; exec /busybox sleep 1000\"" \
	"  sick:" \
	"    image: $acc" \
	"    host: $h1" \
	"    options:" \
	"      entrypoint: /busybox" \
	"      health-cmd: /busybox sh -c \"echo not-ready-$T; exit 1\"" \
	"      health-interval: 1s" \
	"      health-retries: 2" \
	"    cmd: sh -c \"echo sick-starting-$T; exec /busybox sleep 1000\"" \
	"  dies:" \
	"    image: $acc" \
	"    host: $h1" \
	"    options:" \
	"      entrypoint: /busybox" \
	"    cmd: sh -c \"echo cannot-open-data-$T; exit 3\"" \
	"  plain:" \
	"    image: $acc" \
	"    host: $h1" \
	"    options:" \
	"      entrypoint: /busybox" \
	"    cmd: sleep 1000" \
	"  web:" \
	"    image: $acc" \
	"    host: $h1" \
	"    cmd: --version web-acc-1" \
	"    proxy:" \
	"      host: $T-web.test" \
	"      app_port: 80" \
	"      healthcheck:" \
	"        interval: 1"

test_expect_success 'an accessory with a health check is booted once healthy' '
	berth accessory boot good >out 2>&1 || { cat out; exit 1; }
	grep -q "booted (container [0-9a-f]*, healthy)" out &&
	test "$(on $h1 docker inspect -f {{.State.Health.Status}} $T-good)" = healthy
'

test_expect_success 'one without a health check is booted once it runs' '
	berth accessory boot plain >out 2>&1 || { cat out; exit 1; }
	grep -q "booted (container [0-9a-f]*)$" out
'

test_expect_success 'a failing health check fails the boot with its answers and log lines' '
	test_must_fail berth accessory boot sick >out 2>&1 &&
	cat out &&
	grep -q "is not up: its health check fails" out &&
	grep -q "health check (exit code: output): 1: not-ready-$T" out &&
	grep -q "log: sick-starting-$T" out &&
	test "$(on $h1 docker inspect -f {{.State.Running}} $T-sick)" = true
'

test_expect_success 'a container that exits fails the boot with its exit code and log lines' '
	test_must_fail berth accessory boot dies >out 2>&1 &&
	cat out &&
	grep -q "is not up: it is \(exited\|restarting\) (exit code 3)" out &&
	grep -q "cannot-open-data-$T" out
'

# via HOST: what h1's berth-proxy answers for the accessory's host name
via() { curl -s --max-time 5 -o /dev/null -w "%{http_code}" -H "Host: $T-web.test" "http://$(addr_of $h1)/"; }

test_expect_success 'an accessory with proxy: is routed by berth-proxy once it is up' '
	berth accessory boot web >out 2>&1 || { cat out; exit 1; }
	grep -q "berth-proxy sends $T-web.test to $T-web:80" out &&
	curl -s --max-time 5 -H "Host: $T-web.test" "http://$(addr_of $h1)/" | grep -q "version=web-acc-1"
'

test_expect_success 'stop takes it out of the proxy first; start routes it again' '
	berth accessory stop web >out 2>&1 &&
	test "$(via)" = 404 &&
	berth accessory start web >out 2>&1 && test "$(via)" = 200
'

test_expect_success 'remove takes its route away with it' '
	berth accessory remove -y web >out 2>&1 &&
	test "$(via)" = 404 &&
	! on $h1 docker exec berth-proxy berth-proxy list | grep -q "$T-web"
'

test_done
