#!/usr/bin/env bash
# berth deploy of a role with instances (berth's key) on the lab's hosts:
# web with instances: 3 on two hosts, behind berth-proxy, and a worker with
# instances: 2. Each host runs three web containers that share the traffic;
# a deploy under load moves all of them at once with no failed request; a
# version that never gets healthy changes nothing and shows each one's last
# lines; rollback starts the three again; stale_containers counts none of
# them; instances: 1 leaves one; a rollback to a version that ran one makes
# the other two from its image; app stop and start act on all three.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

make_version v1
make_version v2
make_version v3 READY=never
write_config
sed -i "s/^    hosts: \[$h1, $h2\]$/&\n    instances: 3/; s/^    hosts: \[$h2\]$/&\n    instances: 2/" \
	"$APP/config/deploy.yml"

# hosts HOST N: the distinct containers (their hostnames) that N requests to HOST reached
hosts() {
	local i a
	a=http://$(addr_of "$1")/
	for ((i = 0; i < $2; i++)); do
		curl -s --max-time 5 -H "$HOST_H" "$a" | sed -n 's/^testapp .* host=\([^ ]*\)$/\1/p'
	done | sort -u
}
# webs HOST V: the three web containers of version V, as running sorts them
webs() { printf '%s\n' "$T-web-$2" "$T-web.2-$2" "$T-web.3-$2" | sort; }

test_expect_success 'setup: three web containers on each host, two workers' '
	grep -A1 "hosts: \[$h1, $h2\]" "$APP/config/deploy.yml" | grep -q "instances: 3" &&
	berth setup --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	for h in $h1 $h2; do
		test "$(running $h web)" = "$(webs $h v1)" || exit 1
	done &&
	test "$(running $h2 worker | tr "\n" " ")" = "$T-worker-v1 $T-worker.2-v1 " &&
	grep -q "^$h1 web: traffic moved to $T-web-v1, $T-web.2-v1, $T-web.3-v1" out &&
	on $h1 docker ps --filter label=service=$T --filter label=instance=3 --format "{{.Names}}" >i3 &&
	test "$(cat i3)" = "$T-web.3-v1" &&
	test "$(hosts $h1 30 | wc -l)" = 3 && test "$(hosts $h2 30 | wc -l)" = 3
'

test_expect_success 'a deploy under load moves all three at once and fails no request' '
	rm -f stop
	for h in $h1 $h2; do
		a=http://$(addr_of $h)/
		load_loop load-$h -H "$HOST_H" $a $a $a $a &
	done
	berth deploy --version v2 -P >out 2>&1 || { cat out; touch stop; wait; exit 1; }
	sleep 0.5
	touch stop && wait &&
	cat out &&
	for f in load-$h1 load-$h2; do check_load $f "v1|v2" || exit 1; done &&
	for h in $h1 $h2; do
		test "$(running $h web)" = "$(webs $h v2)" || exit 1
	done &&
	test "$(running $h2 worker | tr "\n" " ")" = "$T-worker-v2 $T-worker.2-v2 " &&
	grep -q "^$h1 web: 3 old container(s) stopped" out &&
	test "$(hosts $h1 30 | wc -l)" = 3
'

test_expect_success 'a version that never becomes healthy changes nothing and shows each one' '
	test_must_fail berth deploy --version v3 -P >out 2>&1 &&
	cat out &&
	grep -q "the switch to $T-web-v3, $T-web.2-v3, $T-web.3-v3 failed; traffic stays on the old version" out &&
	for n in $T-web-v3 $T-web.2-v3 $T-web.3-v3; do
		grep -q "last 30 log lines of $n ---" out || exit 1
	done &&
	grep -q "status 503" out &&
	for h in $h1 $h2; do
		test "$(running $h web)" = "$(webs $h v2)" || exit 1
		test "$(serving $h)" = v2 || exit 1
	done &&
	states $h1 | grep -q "^$T-web.2-v3 exited"
'

test_expect_success 'stale_containers names none of the current instances' '
	berth app stale_containers -r web >stale &&
	cat stale && ! grep -q "$T-web" stale
'

test_expect_success 'rollback to v1 starts its three containers again' '
	berth rollback v1 >out 2>&1 || { cat out; exit 1; }
	cat out &&
	for h in $h1 $h2; do
		test "$(running $h web)" = "$(webs $h v1)" || exit 1
		test "$(serving $h)" = v1 || exit 1
	done &&
	test "$(hosts $h1 30 | wc -l)" = 3
'

test_expect_success 'instances: 1 leaves one web container on each host' '
	sed -i "/^    instances: 3$/d" "$APP/config/deploy.yml" &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	for h in $h1 $h2; do
		test "$(running $h web)" = "$T-web-v2" || exit 1
		test "$(serving $h)" = v2 || exit 1
	done &&
	test "$(hosts $h1 10 | wc -l)" = 1
'

test_expect_success 'rollback to a version that ran one container makes the other two' '
	berth deploy --version v1 -P >out 2>&1 || { cat out; exit 1; }
	test "$(running $h1 web)" = "$T-web-v1" &&
	sed -i "s/^    hosts: \[$h1, $h2\]$/&\n    instances: 3/" "$APP/config/deploy.yml" &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	for h in $h1 $h2; do
		test "$(running $h web)" = "$(webs $h v2)" || exit 1
		on $h docker rm -f $T-web.2-v1 $T-web.3-v1 >/dev/null 2>&1 || true
	done &&
	berth rollback v1 >out 2>&1 || { cat out; exit 1; }
	cat out &&
	for h in $h1 $h2; do
		test "$(running $h web)" = "$(webs $h v1)" || exit 1
		test "$(serving $h)" = v1 || exit 1
	done &&
	test "$(hosts $h2 30 | wc -l)" = 3
'

test_expect_success 'app stop and app start act on the three of the version' '
	berth app stop -r web -h $h1 >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test -z "$(running $h1 web)" &&
	test "$(running $h2 web)" = "$(webs $h2 v1)" &&
	berth app start -r web -h $h1 >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(running $h1 web)" = "$(webs $h1 v1)"
'

test_done
