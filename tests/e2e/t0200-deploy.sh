#!/usr/bin/env bash
# berth setup, deploy, rollback on the lab's hosts: a proxied web role on two
# hosts and a worker role, with the test app's image sent without a registry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

make_version v1
make_version v2
make_version v3 READY=never
write_config "  tags:" "    canary:" "      MODE: canary"
# lab-h2 is a canary: its web container gets env.tags.canary
sed -i "s/hosts: \[$h1, $h2\]/hosts: [$h1, {$h2: canary}]/" "$APP/config/deploy.yml"

test_expect_success 'setup deploys from nothing: proxy, web on two hosts, a worker' '
	berth setup --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(serving $h1)" = v1 && test "$(serving $h2)" = v1 &&
	test "$(running $h2 worker)" = "$T-worker-v1" &&
	test "$(running $h1 web)" = "$T-web-v1" &&
	grep -q "^$h1 web: traffic moved to $T-web-v1" out &&
	grep -q "^$h2 worker: $T-worker-v1 is ready" out &&
	grep -q "^deployed v1 on 2 host(s)" out &&
	grep -qE "^switch +2 " out
'

test_expect_success 'the env file holds the secret, mode 0600, and the container sees it' '
	on $h1 stat -c %a "$RUN_DIR/apps/$T/env/web.env" >mode && test "$(cat mode)" = 600 &&
	on $h1 docker exec $T-web-v1 /testapp --exit 0 --print-env SECRET_TOKEN >env &&
	grep -qx "SECRET_TOKEN=$SECRET_VALUE" env
'

test_expect_success 'a tagged host gets its tags env; containers see what Kamal sets' '
	test "$(on $h1 docker exec $T-web-v1 /testapp --exit 0 --print-env MODE | head -n 1)" = MODE=e2e &&
	test "$(on $h2 docker exec $T-web-v1 /testapp --exit 0 --print-env MODE | head -n 1)" = MODE=canary &&
	for kv in KAMAL_VERSION=v1 KAMAL_HOST=$h2 KAMAL_CONTAINER_NAME=$T-web-v1 KAMAL_SERVICE=$T; do
		test "$(on $h2 docker exec $T-web-v1 /testapp --exit 0 --print-env ${kv%%=*} | head -n 1)" = "$kv" || exit 1
	done
'

test_expect_success 'a deploy under continuous load fails no request' '
	rm -f stop
	for h in $h1 $h2; do
		a=http://$(addr_of $h)/
		load_loop load-$h -H "$HOST_H" $a $a $a $a &
		load_loop slow-$h -H "$HOST_H" "${a}slow?ms=400" &
	done
	berth deploy --version v2 -P >out 2>&1 || { cat out; touch stop; wait; exit 1; }
	sleep 0.5
	touch stop && wait &&
	cat out &&
	for f in load-$h1 load-$h2 slow-$h1 slow-$h2; do check_load $f "v1|v2" || exit 1; done &&
	grep -q "version=v2" load-$h1 && grep -q "version=v2" load-$h2 &&
	test "$(serving $h1)" = v2 && test "$(serving $h2)" = v2 &&
	test "$(running $h1 web)" = "$T-web-v2" && test "$(running $h2 worker)" = "$T-worker-v2" &&
	grep -q "^$h1 web: 1 old container(s) stopped" out
'

test_expect_success 'a version that never becomes healthy changes nothing and says why' '
	test_must_fail berth deploy --version v3 -P >out 2>&1 &&
	cat out &&
	grep -q "the switch to $T-web-v3 failed; traffic stays on the old version" out &&
	grep -q "last 30 log lines of $T-web-v3" out &&
	grep -q "status 503" out &&
	test "$(serving $h1)" = v2 && test "$(serving $h2)" = v2 &&
	test "$(running $h1 web)" = "$T-web-v2" && test "$(running $h2 web)" = "$T-web-v2" &&
	# the hosts tried at once; the worker, after web on its host (boot.parallel_roles is
	# off), never booted
	grep -qE "^$h2 worker: not booted: web (did not become healthy on $h1|failed before it on this host)" out &&
	test "$(running $h2 worker)" = "$T-worker-v2" &&
	states $h2 | grep -q "^$T-web-v3 exited"
'

test_expect_success 'rollback without a version lists what is on the hosts' '
	test_must_fail berth rollback >out 2>&1 </dev/null &&
	cat out &&
	grep -q "^v2 .* serving$" out && grep -q "^v1 " out && ! grep -q "^v3 " out
'

test_expect_success 'rollback --previous goes back to v1, then to a named version' '
	berth rollback --previous >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(serving $h1)" = v1 && test "$(serving $h2)" = v1 &&
	test "$(running $h2 worker)" = "$T-worker-v1" &&
	berth rollback v2 >out 2>&1 &&
	test "$(serving $h1)" = v2 &&
	test_must_fail berth rollback v9 2>err &&
	grep -q "version .v9. is not on any host" err
'

test_expect_success 'the journal and the audit log record every release' '
	berth releases >rel &&
	cat rel &&
	grep -q "v2" rel && grep -q "v1" rel &&
	berth audit >audit &&
	grep -q "deploy v2 done" audit && grep -q "deploy v3 failed" audit &&
	grep -q "rollback v1 done" audit
'

test_expect_success 'two deploys at once: the second fails on the lock and names the holder' '
	make_version v4 READY_DELAY_MS=3000 &&
	(set +e; berth deploy --version v4 -P >first 2>&1; echo $? >first.rc) &
	i=0
	until grep -q "deploy lock taken" first 2>/dev/null; do
		i=$((i + 1)); test $i -lt 300; sleep 0.05
	done
	test_must_fail berth deploy --version v2 -P >second 2>&1 &&
	wait &&
	cat first second &&
	grep -q "cannot deploy" second && grep -q "deploy v4" second &&
	test "$(cat first.rc)" = 0 && test "$(serving $h1)" = v4
'

test_expect_success 'release_command runs once before traffic moves, and a failing one stops the deploy' '
	write_config "release_command: --exit 0 --print-env SECRET_TOKEN" &&
	berth deploy --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "release_command succeeded" out &&
	grep -q "SECRET_TOKEN=\[REDACTED\]" out && ! grep -q "$SECRET_VALUE" out &&
	test "$(serving $h1)" = v1 &&
	write_config "release_command: --exit 3 --print-env SECRET_TOKEN" &&
	test_must_fail berth deploy --version v2 -P >out 2>&1 &&
	cat out &&
	grep -q "release_command failed on $h1; nothing was switched" out &&
	grep -q "SECRET_TOKEN=\[REDACTED\]" out && ! grep -q "$SECRET_VALUE" out &&
	test "$(serving $h1)" = v1 && test "$(serving $h2)" = v1 &&
	! on $h1 docker ps --format "{{.Names}}" | grep -q "$T-web-v2"
'

test_expect_success 'app boot starts the serving version again, under load, through an alias' '
	write_config "aliases:" "  reboot-app: app boot" &&
	rm -f stop
	a=http://$(addr_of $h1)/
	load_loop boot-load -H "$HOST_H" $a $a &
	berth reboot-app >out 2>&1 || { cat out; touch stop; wait; exit 1; }
	touch stop && wait &&
	cat out &&
	check_load boot-load "v1" &&
	grep -q "^$h1 web: traffic moved to $T-web-v1" out &&
	test "$(running $h1 web)" = "$T-web-v1" &&
	states $h1 | grep "^$T-web-v1_replaced_.* exited"
'

test_expect_success 'old containers beyond retain_containers are removed' '
	write_config &&
	berth deploy --version v2 -P >/dev/null 2>&1 &&
	on $h1 docker ps -a --filter label=service=$T --filter label=role=web --format "{{.Names}}" >all &&
	cat all && test "$(wc -l <all)" -le 3
'

test_expect_success 'a rollout whose memory does not fit is refused and changes nothing; --force deploys it' '
	write_config &&
	sed -i "/^  web:/,/^  worker:/ s|^    hosts: .*|&\n    options:\n      memory: 100000g|" \
		"$APP/config/deploy.yml" &&
	before=$(serving $h1) && test -n "$before" && test "$before" != v1 &&
	test_must_fail berth deploy --version v1 -P >out 2>&1 &&
	cat out &&
	grep -q "do not fit beside the old ones; nothing was started (--force deploys all the same)" out &&
	grep -q "^$h1: not enough memory to run the new containers beside the old: they need [0-9.]* TiB (web: its memory limit, [0-9.]* TiB), and [0-9.]* [GM]iB is available of " out &&
	grep -q "^$h2: not enough memory .*(web: its memory limit, [0-9.]* TiB; worker: what its running container uses, [0-9.]* [KM]iB)" out &&
	test "$(serving $h1)" = "$before" &&
	test "$(running $h1 web)" = "$T-web-$before" &&
	berth deploy --version v1 -P --force >out 2>&1 || { cat out; exit 1; }
	test "$(serving $h1)" = v1 &&
	test "$(on $h1 docker inspect --format "{{.HostConfig.Memory}}" $T-web-v1)" = $((100000 * 1024 * 1024 * 1024))
'

test_expect_success 'a deploy that fits says so in its steps' '
	write_config &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	grep -q "^capacity  *1 " out
'

test_expect_success 'a deploy that finds no proxy boots it with the boot_config the host keeps' '
	# the lab hosts share root'"'"'s home, where the file is: what one keeps, all do
	test_cleanup "on $h1 rm -f $RUN_DIR/proxy/boot_config.json" &&
	berth proxy boot_config set --log-max-size 20m >/dev/null &&
	on $h1 docker rm -f berth-proxy >/dev/null &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	on $h1 docker inspect --format "{{.HostConfig.LogConfig.Config}}" berth-proxy >log &&
	cat log && grep -q "max-size:20m" log &&
	test "$(serving $h1)" = v2
'

test_expect_success 'remove asks, then takes the app off every host and leaves the proxy' '
	test_must_fail berth remove </dev/null 2>err &&
	grep -q "say yes with -y" err &&
	test "$(serving $h1)" = v2 &&
	berth remove -y >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "^$h1: route $T-web removed" out &&
	test -z "$(states $h1)" && test -z "$(states $h2)" &&
	! on $h2 test -e "$RUN_DIR/apps/$T" &&
	on $h1 docker ps --format "{{.Names}}" | grep -qx berth-proxy &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "$HOST_H" http://$(addr_of $h1)/)" = 404
'

test_done
