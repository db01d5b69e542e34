#!/usr/bin/env bash
# Push to deploy, as a Dokku user does it, against berthd on a lab host set
# up by `berth server bootstrap --daemon`: real git, ssh, sshd and dockerd.
# A Dockerfile app is pushed and served through berth-proxy; a push under
# load fails no request; a failing build and a version that never gets
# healthy reject the push and leave the old version serving; a Procfile
# worker scales; config:set redeploys without a failed request; a read key
# cannot push; two changes of one app wait for each other; a rollback
# serves the earlier version; the app answers again after the host's
# dockerd restarts, with no redeploy; a berthd killed mid-deploy leaves one
# version serving and the next push completes; apps:destroy leaves nothing
# behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h2
ADDR=$(addr_of $H)
REPO=$TEST_TMP/repo

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
ssh-keygen -q -t ed25519 -N "" -C "reader-$T" -f "$TEST_TMP/reader"
# as KEY: git and ssh as the berth user with that key only
as() {
	local key=$1
	shift
	GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/$key -o IdentitiesOnly=yes" "$@"
}
bd() { as admin ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"; }
# push KEY [ARGS...]: git push of main to the app as KEY, output in push.out
push() {
	local key=$1
	shift
	(cd "$REPO" && as "$key" git push "$@" "berth@$H:$T" main) >push.out 2>&1
}
# commit_version V [DOCKERFILE LINES...]: a commit of the app answering with version V
commit_version() {
	local v=$1
	shift
	{
		echo "FROM scratch"
		echo "COPY testapp /testapp"
		echo "ENV APP_VERSION=$v"
		for l in "$@"; do echo "$l"; done
		echo 'CMD ["/testapp"]'
	} >"$REPO/Dockerfile"
	(cd "$REPO" && git add -A && git commit -qm "$v")
}
# kill_hook: kills berthd's pre-receive hook in its container, as a crash would
kill_hook() {
	on "$H" docker exec -i berthd sh <<-'EOF'
		for d in /proc/[0-9]*; do
			case "$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)" in
			"berthd hook pre-receive"*) kill -9 "${d#/proc/}" && echo "killed ${d#/proc/}" ;;
			esac
		done
	EOF
}
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }

write_config
mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"

test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T; docker exec berthd berthd ssh-keys:remove reader-$T'"

test_expect_success 'bootstrap --daemon with an admin key: the key runs berthd, never a shell' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd version >v && grep -q "^berthd " v &&
	rc=0 && bd sh -c id >out 2>&1 || rc=$?
	cat out && test $rc != 0 && ! grep -q "uid=" out
'

test_expect_success 'the app and its domain are made over ssh, Dokku style' '
	bd apps:create $T &&
	bd domains:add $T $T.test &&
	bd apps:list >list && grep -qx "$T" list
'

test_expect_success 'a first push builds the Dockerfile and serves the app through berth-proxy' '
	commit_version v1 &&
	push admin || { cat push.out; exit 1; }
	cat push.out &&
	grep -q "^remote: -----> " push.out &&
	test "$(served)" = v1
'

test_expect_success 'a push under load fails no request' '
	commit_version v2 && rm -f "$TEST_TMP/stop" || exit 1
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ push admin || { cat push.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	check_load load.out "v1|v2" &&
	test "$(served)" = v2
'

test_expect_success 'a failing build rejects the push and the old version serves on' '
	commit_version v3 "COPY no-such-file /x" &&
	test_must_fail push admin &&
	cat push.out &&
	grep -q "pre-receive hook declined" push.out &&
	grep -q "no-such-file" push.out &&
	test "$(served)" = v2
'

test_expect_success 'a version that never gets healthy rejects the push, shows why, v2 serves on' '
	printf "{\"healthchecks\": {\"web\": [{\"type\": \"startup\", \"path\": \"/up\", \"attempts\": 3}]}}\n" \
		>"$REPO/app.json" &&
	commit_version v4 "ENV READY=never" &&
	test_must_fail push admin -f &&
	cat push.out &&
	grep -q "pre-receive hook declined" push.out &&
	grep -q "503" push.out &&
	test "$(served)" = v2
'

test_expect_success 'a read key cannot push or change config, and nothing changes' '
	on $H "docker exec -i berthd berthd ssh-keys:add --limited reader-$T" <"$TEST_TMP/reader.pub" &&
	on $H docker exec berthd berthd ssh-keys:grant reader-$T $T read &&
	commit_version v5 &&
	test_must_fail push reader -f &&
	cat push.out && grep -q "permission denied" push.out &&
	rc=0 && as reader ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/reader" -o IdentitiesOnly=yes \
		"berth@$H" config:set $T X=1 2>err || rc=$?
	test $rc = 1 && grep -q "permission denied" err &&
	test "$(bd config:get $T X || true)" = "" &&
	test "$(served)" = v2
'

test_expect_success 'config:set redeploys with zero failed requests; the value is in no event' '
	rm -f "$TEST_TMP/stop" load.out
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ bd config:set $T "GREETING=s3cr3t-\$(id);|x" >cfg.out 2>&1 ||
		{ cat cfg.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	check_load load.out "v2" &&
	test "$(bd config:get $T GREETING)" = "s3cr3t-\$(id);|x" &&
	bd events >ev && grep -q GREETING ev && ! grep -q s3cr3t ev
'

test_expect_success 'Procfile: web is routed, a worker runs when scaled, without the proxy' '
	printf "web: /testapp\nworker: /testapp --port 7000\n" >"$REPO/Procfile" &&
	commit_version v6 &&
	push admin -f || { cat push.out; exit 1; }
	test "$(served)" = v6 &&
	bd ps:scale $T worker=1 >scale.out 2>&1 || { cat scale.out; exit 1; }
	on $H docker ps --filter label=service=$T --filter label=role=worker --format "{{.Names}}" >w &&
	cat w && test "$(wc -l <w)" = 1 &&
	test "$(served)" = v6
'

test_expect_success 'two changes of one app at once: the second waits for the first' '
	# v7 gets healthy 5 s after it starts, so the push holds the lock of the
	# app that long at least, and the restart starts once the lock file names
	# the push as its holder: the restart finds it held however slow the machine
	printf "{\"healthchecks\": {\"web\": [{\"type\": \"startup\", \"path\": \"/up\", \"attempts\": 60}]}}\n" \
		>"$REPO/app.json" &&
	commit_version v7 "ENV READY_DELAY_MS=5000" &&
	{ push admin -f & } && ppid=$! &&
	for ((i = 0; i < 600; i++)); do
		holder=$(on "$H" docker exec berthd cat /var/lib/berthd/locks/$T.lock 2>/dev/null) || true
		case $holder in *"git push"*) break ;; esac
		kill -0 $ppid 2>/dev/null || { cat push.out; echo "the push ended before it took the lock"; exit 1; }
		sleep 0.1
	done &&
	rrc=0 && prc=0 &&
	{ bd ps:restart $T >restart.out 2>&1 || rrc=$?; } &&
	{ wait $ppid || prc=$?; } &&
	cat push.out restart.out &&
	test $rrc = 0 && test $prc = 0 &&
	grep -q "lock" restart.out &&
	test "$(served)" = v7
'

test_expect_success 'releases:rollback serves the earlier release again, at once' '
	bd releases $T >rel && cat rel &&
	bd releases:rollback $T >rb.out 2>&1 || { cat rb.out; exit 1; }
	cat rb.out &&
	test "$(served)" = v6
'

test_expect_success 'after the host dockerd restarts the app answers again with no redeploy' '
	test_cleanup "$LAB up >/dev/null 2>&1"
	dpid=$(cat "$LAB_DIR/h2/docker.pid") &&
	kill -TERM $dpid &&
	for ((i = 0; i < 600; i++)); do kill -0 $dpid 2>/dev/null || break; sleep 0.1; done &&
	{ "$LAB" up >lab.out 2>&1 || { cat lab.out; exit 1; }; } &&
	for ((i = 0; i < 300; i++)); do test "$(served)" = v6 && break; sleep 0.2; done &&
	test "$(served)" = v6 &&
	bd version
'

test_expect_success 'berthd killed in the middle of a deploy: one version serves, the next push completes' '
	commit_version v8 "ENV READY_DELAY_MS=4000" &&
	{ push admin -f & } && ppid=$! &&
	for ((i = 0; i < 600; i++)); do grep -q "Deploying $T" push.out && break; sleep 0.05; done &&
	grep_q push.out "Deploying $T" &&
	kill_hook >killed.out && cat killed.out && grep_q killed.out killed &&
	{ wait $ppid || true; } &&
	cat push.out &&
	v=$(served) && echo "serving: $v" && { test "$v" = v6 || test "$v" = v8; } &&
	push admin -f || { cat push.out; exit 1; }
	test "$(served)" = v8
'

test_expect_success 'images of releases past the newest five are removed, the current one kept' '
	bd releases $T >rel && cat rel &&
	oldest=$(awk "\$1 ~ /^[0-9]+\$/ {v = \$2} END {print v}" rel) &&
	current=$(awk "/current/ {print \$2}" rel) &&
	test -n "$oldest" && test -n "$current" &&
	on $H docker images --format "{{.Repository}}:{{.Tag}}" berthd/$T >imgs && cat imgs &&
	! grep -qx "berthd/$T:$oldest" imgs &&
	grep -qx "berthd/$T:$current" imgs
'

test_expect_success 'apps:destroy takes the app off the host: route, containers, images' '
	bd apps:destroy $T --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	cat destroy.out &&
	! on $H docker exec berth-proxy berth-proxy list | grep -q "^$T-web" &&
	test -z "$(on $H docker ps -aq --filter label=service=$T)" &&
	test -z "$(on $H docker images -q berthd/$T)" &&
	rc=0 && bd apps:report $T 2>/dev/null || rc=$?
	test $rc = 20
'

test_done
