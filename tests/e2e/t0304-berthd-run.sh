#!/usr/bin/env bash
# berthd's process and runtime commands against berthd on a lab host set up
# by `berth server bootstrap --daemon`, as a Dokku user runs them over ssh:
# run passes its output and exit code through, with the app's config vars
# and -e ones, and leaves no container or env file behind; ps:stop makes the
# route answer 503 and a config change does not start the app again;
# ps:start serves again; resource:limit and storage:mount show in docker
# inspect after a restart; ps:scale runs a type's instances, which logs -p and
# enter reach, and removes those scaled down; ps:rebuild builds the
# revision again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h3
ADDR=$(addr_of $H)
REPO=$TEST_TMP/repo
MNT=$TEST_TMP/mnt

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() {
	ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"
}
push() {
	(cd "$REPO" && GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/admin -o IdentitiesOnly=yes" \
		git push "$@" "berth@$H:$T" main) >push.out 2>&1
}
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
status() { curl -s -o /dev/null --max-time 5 -w "%{http_code}" -H "Host: $T.test" "http://$ADDR/" || true; }
web_container() { on $H docker ps -q --filter label=service=$T --filter label=role=web | head -n 1; }

write_config
# this test's host alone
sed -i "s/hosts: \[$h1, $h2\]/hosts: [$h3]/; s/hosts: \[$h2\]/hosts: [$h3]/" "$APP/config/deploy.yml"
mkdir -p "$REPO" "$MNT"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"
printf 'FROM scratch\nCOPY testapp /testapp\nENV APP_VERSION=v1\nCMD ["/testapp"]\n' >"$REPO/Dockerfile"
(cd "$REPO" && git add -A && git commit -qm v1)

test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T) \$(docker ps -aq --filter label=berthd.run=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T'"

test_expect_success 'bootstrap --daemon, an app, a first push' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd apps:create $T &&
	bd domains:add $T $T.test >/dev/null &&
	bd config:set --no-restart $T "GREETING=hi-\$(id);$T" >/dev/null &&
	{ push || { cat push.out; exit 1; }; } &&
	test "$(served)" = v1
'

test_expect_success 'run passes output and exit code through, with the config vars and -e' '
	rc=0 && bd run $T /testapp --exit 3 --print-env GREETING >run.out 2>run.err || rc=$?
	cat run.out run.err &&
	test $rc = 3 &&
	grep -qxF "GREETING=hi-\$(id);$T" run.out &&
	grep -q "one-off job exits with 3" run.out &&
	bd run -e "EXTRA=a|b" -e GREETING=over $T /testapp --exit 0 --print-env EXTRA >run.out &&
	grep -qxF "EXTRA=a|b" run.out &&
	bd run -e GREETING=over $T /testapp --exit 0 --print-env GREETING >run.out &&
	grep -qxF "GREETING=over" run.out &&
	test -z "$(on $H docker ps -aq --filter label=berthd.run=$T)" &&
	test -z "$(on $H docker exec berthd ls /var/lib/berthd/run/oneoff)"
'

test_expect_success 'ps:stop: the route stays and answers 503; a config change does not start it' '
	bd ps:stop $T >stop.out 2>&1 || { cat stop.out; exit 1; }
	cat stop.out &&
	on $H docker ps -a --filter label=service=$T --format "{{.Names}}:{{.Status}}" &&
	test -z "$(web_container)" &&
	st=$(status) && echo "status $st" && test "$st" = 503 &&
	bd ps:report $T >ps.out && grep -q "Stopped: *true" ps.out &&
	{ bd config:set $T X=1 >cfg.out 2>&1 || { cat cfg.out; exit 1; }; } &&
	cat cfg.out && grep -q "is stopped" cfg.out &&
	test -z "$(web_container)" &&
	test "$(status)" = 503
'

test_expect_success 'ps:start serves again, with the config set meanwhile' '
	bd ps:start $T >start.out 2>&1 || { cat start.out; exit 1; }
	test "$(served)" = v1 &&
	bd ps:report $T >ps.out && grep -q "Stopped: *false" ps.out &&
	test_must_fail bd enter $T nope 2>enter.err &&
	grep -q "has no running container of type nope" enter.err &&
	bd run $T /testapp --exit 0 --print-env X >run.out &&
	grep -qxF "X=1" run.out
'

test_expect_success 'resource:limit and storage:mount show in docker inspect after a restart' '
	bd resource:limit --memory 256m --cpu 0.5 $T >lim.out &&
	grep -q "next deploy" lim.out &&
	bd storage:mount $T "$MNT:/data" >mnt.out &&
	{ bd ps:restart $T >restart.out 2>&1 || { cat restart.out; exit 1; }; } &&
	test "$(served)" = v1 &&
	c=$(web_container) && test -n "$c" &&
	on $H docker inspect "$c" >inspect.json &&
	jq -r ".[0].HostConfig.Memory, .[0].HostConfig.NanoCpus" inspect.json >limits &&
	cat limits &&
	test "$(cat limits | tr "\n" " ")" = "268435456 500000000 " &&
	jq -r ".[0].Mounts[] | .Source + \":\" + .Destination" inspect.json >mounts &&
	cat mounts && grep -qxF "$MNT:/data" mounts &&
	bd resource:report $T >rep && grep -q "256m" rep &&
	bd storage:list $T >list && grep -qF "$MNT:/data" list
'

test_expect_success 'ps:scale worker=3 runs three workers that logs -p and enter reach; worker=1 removes two' '
	printf "web: /testapp\nworker: /testapp --port 7000\n" >"$REPO/Procfile" &&
	# a shell for enter: the static busybox, as sh
	cp /bin/busybox "$REPO/sh" &&
	sed -i "s|^COPY testapp /testapp|&\nCOPY sh /bin/sh|" "$REPO/Dockerfile" &&
	(cd "$REPO" && git add -A && git commit -qm procfile) &&
	{ push || { cat push.out; exit 1; }; } &&
	bd ps:scale $T worker=3 >scale.out 2>&1 || { cat scale.out; exit 1; }
	on $H docker ps --filter label=service=$T --format "{{.Labels}}" |
		grep -o "role=[^,]*" | sort >roles &&
	cat roles && test "$(tr "\n" " " <roles)" = "role=web role=worker role=worker-2 role=worker-3 " &&
	test "$(served)" = v1 &&
	bd logs $T -p worker -n 5 >logs.out 2>&1 && cat logs.out &&
	test "$(grep -c "listening on .*:7000" logs.out)" = 3 &&
	! grep -q ":5000" logs.out &&
	id2=$(on $H docker ps -q --filter label=service=$T --filter label=role=worker-2) &&
	test -n "$id2" &&
	echo "read h </etc/hostname; echo \$h" | bd enter $T worker.2 >enter.out 2>&1 &&
	cat enter.out &&
	test "$(cat enter.out)" = "$id2" &&
	bd ps:scale $T worker=1 >scale.out 2>&1 || { cat scale.out; exit 1; }
	cat scale.out && grep -q "worker-3 container (scaled down)" scale.out &&
	on $H docker ps -a --filter label=service=$T --format "{{.Labels}}" |
		grep -o "role=[^,]*" | sort -u >roles &&
	cat roles && test "$(tr "\n" " " <roles)" = "role=web role=worker " &&
	test "$(served)" = v1
'

test_expect_success 'ps:rebuild builds the current revision again and serves it' '
	bd ps:rebuild $T >rebuild.out 2>&1 || { cat rebuild.out; exit 1; }
	cat rebuild.out &&
	grep -q "Rebuilding $T" rebuild.out &&
	test "$(served)" = v1
'

test_expect_success 'apps:destroy leaves nothing behind' '
	bd apps:destroy $T --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter label=service=$T)" &&
	test -z "$(on $H docker ps -aq --filter label=berthd.run=$T)"
'

test_done
