#!/usr/bin/env bash
# ps:scale APP web=N against berthd on a lab host set up by `berth server
# bootstrap --daemon`, as a Dokku user runs it over ssh: web=3 runs three web
# containers that berth-proxy balances over (requests reach three distinct
# containers); a config change under load moves all three at once with no
# failed request; logs -p web and enter web.2 reach them; a version whose
# second instance never gets healthy is refused, says why, and the old three
# serve on; a push under load fails no request; releases:rollback, ps:stop
# and ps:start keep the three; web=1 leaves exactly one web container; a
# rollback to a release whose second container was removed makes it anew;
# apps:destroy leaves nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h1
ADDR=$(addr_of $H)
REPO=$TEST_TMP/repo

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() {
	ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"
}
push() {
	(cd "$REPO" && GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/admin -o IdentitiesOnly=yes" \
		git push "$@" "berth@$H:$T" main) >push.out 2>&1
}
# commit_version V [DOCKERFILE LINES...]: a commit of the app answering with version V
commit_version() {
	local v=$1
	shift
	{
		echo "FROM scratch"
		echo "COPY testapp /testapp"
		echo "COPY sh /bin/sh"
		echo "ENV APP_VERSION=$v"
		for l in "$@"; do echo "$l"; done
		echo 'CMD ["/testapp"]'
	} >"$REPO/Dockerfile"
	(cd "$REPO" && git add -A && git commit -qm "$v")
}
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
status() { curl -s -o /dev/null --max-time 5 -w "%{http_code}" -H "Host: $T.test" "http://$ADDR/" || true; }
# hosts N: the distinct containers (their hostnames) that N requests reached, one a line
hosts() {
	local i
	for ((i = 0; i < $1; i++)); do
		curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp .* host=\([^ ]*\)$/\1/p'
	done | sort -u
}
# webs: the running web containers, "NAME VERSION INSTANCE" a line, sorted
webs() {
	on $H docker ps --filter label=service=$T --filter label=role=web \
		--format '"{{.Names}} {{.Label \"version\"}} {{.Label \"instance\"}}"' | sort
}
# check_webs N: N web containers run, all of one version, named and labelled as instances 1..N
check_webs() {
	local v
	webs >webs.out && cat webs.out &&
		test "$(wc -l <webs.out)" = "$1" &&
		v=$(awk "NR == 1 {print \$2}" webs.out) && test -n "$v" &&
		test "$(awk "{print \$2}" webs.out | sort -u)" = "$v" &&
		grep -qx "$T-web-$v $v " webs.out &&
		for ((i = 2; i <= $1; i++)); do grep -qx "$T-web.$i-$v $v $i" webs.out || return 1; done
}

write_config
# this test's host alone
sed -i "s/hosts: \[$h1, $h2\]/hosts: [$h1]/; s/hosts: \[$h2\]/hosts: [$h1]/" "$APP/config/deploy.yml"
mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
# a shell for enter and for a Procfile command: the static busybox, as sh
cp /bin/busybox "$REPO/sh"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"

test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T) \$(docker ps -aq --filter label=berthd.run=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T'"

test_expect_success 'bootstrap --daemon, an app, a first push' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd apps:create $T &&
	bd domains:add $T $T.test >/dev/null &&
	commit_version v1 &&
	{ push || { cat push.out; exit 1; }; } &&
	test "$(served)" = v1 &&
	check_webs 1
'

test_expect_success 'ps:scale web=3 runs three web containers that share the traffic' '
	bd ps:scale $T web=3 >scale.out 2>&1 || { cat scale.out; exit 1; }
	cat scale.out &&
	! grep -q "runs one container" scale.out &&
	check_webs 3 &&
	hosts 30 >hosts.out && cat hosts.out &&
	test "$(wc -l <hosts.out)" = 3 &&
	bd ps:report $T >ps.out && grep -q "web=3" ps.out &&
	test "$(served)" = v1
'

test_expect_success 'config:set under load moves all three at once, no request fails' '
	old=$(awk "NR == 1 {print \$2}" webs.out) &&
	rm -f "$TEST_TMP/stop" load.out || exit 1
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ bd config:set $T GREETING=hi >cfg.out 2>&1 ||
		{ cat cfg.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	cat cfg.out &&
	check_load load.out v1 &&
	check_webs 3 &&
	test "$(awk "NR == 1 {print \$2}" webs.out)" != "$old" &&
	test "$(on $H docker ps -q --filter label=service=$T --filter label=version=$old)" = "" &&
	test "$(hosts 30 | wc -l)" = 3
'

test_expect_success 'logs -p web shows the three; enter web.2 reaches the second' '
	bd logs $T -p web -n 10000 >logs.out 2>&1 &&
	grep "listening on" logs.out &&
	test "$(grep -c "listening on" logs.out)" = 3 &&
	id2=$(on $H docker ps -q --filter label=service=$T --filter label=role=web --filter label=instance=2) &&
	test -n "$id2" &&
	echo "read h </etc/hostname; echo \$h" | bd enter $T web.2 >enter.out 2>&1 &&
	cat enter.out && test "$(cat enter.out)" = "$id2" &&
	echo "read h </etc/hostname; echo \$h" | bd enter $T web >enter.out 2>&1 &&
	cat enter.out && test "$(cat enter.out)" != "$id2" &&
	test_must_fail bd enter $T web.4 </dev/null 2>enter.err &&
	grep -q "no running container of type web.4" enter.err
'

test_expect_success 'a version whose second instance never gets healthy: refused, the three serve on' '
	before=$(awk "NR == 1 {print \$2}" webs.out) &&
	printf "{\"healthchecks\": {\"web\": [{\"type\": \"startup\", \"path\": \"/up\", \"attempts\": 5}]}}\n" \
		>"$REPO/app.json" &&
	printf "%s\n" "web: sh -c '\''case \$KAMAL_CONTAINER_NAME in *web.2-*) export READY=never ;; esac; exec /testapp'\''" \
		>"$REPO/Procfile" &&
	cat "$REPO/Procfile" &&
	commit_version v2 &&
	test_must_fail push &&
	cat push.out &&
	grep -q "pre-receive hook declined" push.out &&
	grep -q "last 30 log lines of $T-web.2-" push.out &&
	! grep -q "last 30 log lines of $T-web-" push.out &&
	grep -q "503" push.out &&
	test "$(served)" = v1 &&
	check_webs 3 &&
	test "$(awk "NR == 1 {print \$2}" webs.out)" = "$before" &&
	test "$(hosts 30 | wc -l)" = 3
'

test_expect_success 'a push under load moves all three to the new version, no request fails' '
	rm -f "$REPO/Procfile" "$REPO/app.json" "$TEST_TMP/stop" load.out &&
	commit_version v3 || exit 1
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ push || { cat push.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	check_load load.out "v1|v3" &&
	test "$(served)" = v3 &&
	check_webs 3 &&
	test "$(hosts 30 | wc -l)" = 3
'

test_expect_success 'releases:rollback serves the earlier release with three containers' '
	bd releases:rollback $T >rb.out 2>&1 || { cat rb.out; exit 1; }
	cat rb.out &&
	test "$(served)" = v1 &&
	check_webs 3 &&
	test "$(hosts 30 | wc -l)" = 3
'

test_expect_success 'ps:stop stops the three; ps:start runs three again' '
	bd ps:stop $T >stop.out 2>&1 || { cat stop.out; exit 1; }
	test -z "$(webs)" &&
	test "$(status)" = 503 &&
	bd ps:start $T >start.out 2>&1 || { cat start.out; exit 1; }
	check_webs 3 &&
	test "$(served)" = v1
'

test_expect_success 'ps:scale web=1 leaves exactly one web container' '
	bd ps:scale $T web=1 >scale.out 2>&1 || { cat scale.out; exit 1; }
	cat scale.out &&
	grep -q "web.3 container (scaled down)" scale.out &&
	check_webs 1 &&
	test -z "$(on $H docker ps -aq --filter label=service=$T --filter label=instance)" &&
	test "$(hosts 10 | wc -l)" = 1 &&
	test "$(served)" = v1
'

test_expect_success 'a rollback to a release whose second container is gone makes it anew' '
	bd ps:scale $T web=2 >scale.out 2>&1 || { cat scale.out; exit 1; }
	check_webs 2 &&
	bd releases:rollback $T >rb.out 2>&1 || { cat rb.out; exit 1; }
	cat rb.out &&
	test "$(served)" = v3 &&
	check_webs 2 &&
	test "$(hosts 20 | wc -l)" = 2
'

test_expect_success 'apps:destroy leaves nothing behind' '
	bd apps:destroy $T --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter label=service=$T)"
'

test_done
