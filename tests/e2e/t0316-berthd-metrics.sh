#!/usr/bin/env bash
# berthd's metrics:report against berthd on a lab host set up by `berth
# server bootstrap --daemon`: with no metrics port on berth-proxy (it reads
# `berth-proxy metrics` through docker exec), it counts the requests sent to a
# pushed app by status class, with its latency, in text and JSON, and leaves
# no helper container behind; a missing app is exit 20.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h3
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
get() { curl -s -o /dev/null --max-time 5 -w "%{http_code}\n" -H "Host: $T.test" "http://$ADDR$1"; }
# report_json: metrics:report --format json into report.json
report_json() { bd metrics:report $T --format json >report.json 2>report.err; }
field() { jq -r "$1" report.json; }

write_config
sed -i "s/hosts: \[$h1, $h2\]/hosts: [$h3]/; s/hosts: \[$h2\]/hosts: [$h3]/" "$APP/config/deploy.yml"
mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"
printf 'FROM scratch\nCOPY testapp /testapp\nENV APP_VERSION=v1\nCMD ["/testapp"]\n' >"$REPO/Dockerfile"
(cd "$REPO" && git add -A && git commit -qm v1)

test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T) \$(docker ps -aq --filter label=berthd.metrics=1); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T'"

test_expect_success 'bootstrap --daemon, an app, a first push' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd apps:create $T &&
	bd domains:add $T $T.test >/dev/null &&
	{ push || { cat push.out; exit 1; }; } &&
	test "$(get /)" = 200
'

test_expect_success 'metrics:report needs no metrics port (berth-proxy rebooted when older)' '
	if ! on $H "docker exec berth-proxy berth-proxy metrics" >/dev/null 2>&1; then
		berth proxy reboot -y -h $H >reboot.out 2>&1 || { cat reboot.out; exit 1; }
	fi
	on $H "docker inspect --format '"'"'{{json .Args}}'"'"' berth-proxy" >args &&
	cat args &&
	! grep -q -- "--metrics-port" args &&
	test "$(get /)" = 200 &&
	report_json &&
	cat report.json &&
	test "$(field .service)" = "$T-web"
'

test_expect_success 'metrics:report counts the requests sent, by status class' '
	report_json && cat report.json &&
	r0=$(field .requests) && ok0=$(field ".requests_by_class[\"2xx\"]") &&
	nf0=$(field ".requests_by_class[\"4xx\"]") && se0=$(field ".requests_by_class[\"5xx\"]") &&
	for i in $(seq 20); do get / ; done >codes &&
	for i in 1 2 3; do get "/status?code=404"; done >>codes &&
	for i in 1 2 3 4 5; do get "/status?code=503"; done >>codes &&
	sort codes | uniq -c &&
	test "$(grep -c "^200$" codes)" = 20 && test "$(grep -c "^404$" codes)" = 3 &&
	test "$(grep -c "^503$" codes)" = 5 &&
	# a worker adds its count as the response ends: a few tries at most
	for i in 1 2 3 4 5; do
		report_json && test "$(field .requests)" -ge $((r0 + 28)) && break
		sleep 0.2
	done &&
	cat report.json &&
	test "$(field .requests)" = $((r0 + 28)) &&
	test "$(field ".requests_by_class[\"2xx\"]")" = $((ok0 + 20)) &&
	test "$(field ".requests_by_class[\"4xx\"]")" = $((nf0 + 3)) &&
	test "$(field ".requests_by_class[\"5xx\"]")" = $((se0 + 5)) &&
	test "$(field ".latency_ms.p50 | type")" = number &&
	test "$(field ".latency_ms.p99 | type")" = number &&
	test "$(field ".latency_ms.mean | type")" = number
'

test_expect_success 'the text report, and no helper container left behind' '
	bd metrics:report $T >report.txt &&
	cat report.txt &&
	grep -q "^=====> $T metrics" report.txt &&
	grep -qE "^ +Service: +$T-web$" report.txt &&
	grep -qE "^ +Requests 5xx: +[0-9]+$" report.txt &&
	grep -qE "^ +Latency p99: +[0-9]+\.[0-9] ms$" report.txt &&
	test -z "$(on $H docker ps -aq --filter label=berthd.metrics=1)"
'

test_expect_success 'metrics:report of a missing app: exit 20; a bad --format: usage' '
	rc=0 && bd metrics:report nope-$T 2>err || rc=$?
	test $rc = 20 &&
	test_must_fail bd metrics:report $T --format yaml 2>err &&
	grep -q "usage: .*metrics:report APP \[--format json\]" err
'

test_expect_success 'apps:destroy leaves nothing behind' '
	bd apps:destroy $T --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter label=service=$T)"
'

test_done
