#!/usr/bin/env bash
# The panel's charts against berthd on a lab host set up by `berth server
# bootstrap --daemon`, its container then run again with `berthd serve
# --sample-interval 1`: berthd's sampler reads berth-proxy's counters through
# `berth-proxy metrics` (no metrics port), and after load sent to a pushed
# app GET /api/v1/apps/APP/metrics has points with requests per second, and
# the three SVG charts answer valid SVG with a line; a panel user without
# rights on the app gets 404, no credentials 401. berthd's HTTP side is
# reached through a plain-HTTP route of berth-proxy made for the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h3
ADDR=$(addr_of $H)
REPO=$TEST_TMP/repo
ROOT=$T.test
PANEL=panel-$T.test
PW="correct horse $T battery"

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() {
	ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"
}
push() {
	(cd "$REPO" && GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/admin -o IdentitiesOnly=yes" \
		git push "$@" "berth@$H:$T" main) >push.out 2>&1
}
get() { curl -s -o /dev/null --max-time 5 -w "%{http_code}\n" -H "Host: $T.test" "http://$ADDR$1"; }
# web METHOD PATH [curl args...]: berthd's HTTP side through the test's route; the body in
# web.out, the headers in web.head, the status printed.
web() {
	local m=$1 p=$2
	shift 2
	curl -s --max-time 10 -H "Host: $PANEL" -o "$TEST_TMP/web.out" -D "$TEST_TMP/web.head" \
		-w '%{http_code}' -X "$m" "$@" "http://$ADDR$p"
}
# session_of: the Cookie header of the session web.head sets (curl keeps a Secure cookie
# for HTTPS, and this route is plain HTTP).
session_of() {
	printf 'Cookie: %s\n' "$(sed -n 's/^[Ss]et-[Cc]ookie: \(berth_session=[0-9a-f]*\);.*/\1/p' "$TEST_TMP/web.head")"
}
# berthd_in_container ARGS...: a root command in berthd's container, without the panel's
# HTTPS route (it would ask a real ACME CA for a certificate).
berthd_in_container() { on $H docker exec -e BERTHD_PANEL_ROUTE=0 berthd berthd "$@"; }

write_config
sed -i "s/hosts: \[$h1, $h2\]/hosts: [$h3]/; s/hosts: \[$h2\]/hosts: [$h3]/" "$APP/config/deploy.yml"
mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"
printf 'FROM scratch\nCOPY testapp /testapp\nENV APP_VERSION=v1\nCMD ["/testapp"]\n' >"$REPO/Dockerfile"
(cd "$REPO" && git add -A && git commit -qm v1)

# berthd's state goes with the test (its panel users); the next bootstrap starts it afresh.
gone="docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker exec berth-proxy berth-proxy remove $T-panel; docker rm -f berthd; docker volume rm berthd"
on $H "$gone" >/dev/null 2>&1 || true
test_cleanup "on $H '$gone'"

test_expect_success 'bootstrap --daemon, an app, a first push' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd apps:create $T &&
	bd domains:add $T $T.test >/dev/null &&
	{ push || { cat push.out; exit 1; }; } &&
	test "$(get /)" = 200
'

test_expect_success 'berth-proxy answers its metrics command (rebooted when older)' '
	if ! on $H "docker exec berth-proxy berth-proxy metrics" >/dev/null 2>&1; then
		berth proxy reboot -y -h $H >reboot.out 2>&1 || { cat reboot.out; exit 1; }
	fi
	on $H "docker exec berth-proxy berth-proxy metrics" >scrape &&
	grep -q "^# TYPE berth_proxy_requests_total counter$" scrape &&
	on $H "docker inspect --format '"'"'{{json .Args}}'"'"' berth-proxy" >args &&
	! grep -q -- "--metrics-port" args
'

test_expect_success 'berthd run again with serve --sample-interval 1; its sampler starts' '
	on $H bash -s >rerun.out 2>&1 <<-\EOF || { cat rerun.out; exit 1; }
	set -e
	img=$(docker inspect -f "{{.Config.Image}}" berthd)
	args=(-d --name berthd --restart unless-stopped --network berth --log-opt max-size=10m)
	while read -r b; do [ -n "$b" ] && args+=(-v "$b"); done < <(docker inspect -f \
		"{{range .HostConfig.Binds}}{{println .}}{{end}}" berthd)
	while read -r e; do [ -n "$e" ] && args+=(-e "$e"); done < <(docker inspect -f \
		"{{range .Config.Env}}{{println .}}{{end}}" berthd | grep "^BERTHD_SSH_")
	while read -r l; do [ -n "$l" ] && args+=(--label "$l"); done < <(docker inspect -f \
		"{{range \$k, \$v := .Config.Labels}}{{\$k}}={{\$v}}{{println}}{{end}}" berthd |
		grep "^berth\.daemon")
	docker rm -f berthd >/dev/null
	docker run "${args[@]}" "$img" berthd serve --sample-interval 1 >/dev/null
	EOF
	for i in $(seq 50); do
		on $H "docker logs berthd" >serve.log 2>&1
		grep -q "sampler: berth-proxy.s metrics every 1s" serve.log && break
		sleep 0.2
	done
	cat serve.log &&
	grep -q "sampler: berth-proxy.s metrics every 1s" serve.log &&
	bd apps:list | grep -qx "$T"
'

test_expect_success 'a route to berthd for the test; the first admin; a user without the app' '
	on $H "docker exec berth-proxy berth-proxy deploy $T-panel --target=berthd:3000 --host=$PANEL --health-check-path=/up" >/dev/null &&
	berthd_in_container domains:set-global $ROOT >/dev/null &&
	link=$(berthd_in_container panel:setup-link | tail -n 1) &&
	tok=${link##*token=} && test ${#tok} -ge 32 &&
	test "$(web POST /setup --data-urlencode "token=$tok" --data-urlencode name=admin \
		--data-urlencode "password=$PW")" = 303 &&
	test "$(web POST /api/v1/login -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\"}")" = 200 &&
	session_of >admin.cookie && grep -q "berth_session=[0-9a-f]" admin.cookie &&
	test "$(web GET /api/v1/me -H @admin.cookie)" = 200 &&
	csrf=$(jq -r .csrf_token web.out) &&
	test "$(web POST /api/v1/users -H @admin.cookie -H "X-CSRF-Token: $csrf" \
		-H "Origin: https://berth.$ROOT" -H "Content-Type: application/json" \
		-d "{\"name\":\"outsider\",\"password\":\"$PW\"}")" = 201 &&
	test "$(web POST /api/v1/login -H "Content-Type: application/json" \
		-d "{\"name\":\"outsider\",\"password\":\"$PW\"}")" = 200 &&
	session_of >outsider.cookie && grep -q "berth_session=[0-9a-f]" outsider.cookie
'

test_expect_success 'after load, the metrics API has points with requests per second' '
	for i in $(seq 30); do
		for j in $(seq 10); do get /; done >/dev/null
		get "/status?code=503" >/dev/null
		test "$(web GET /api/v1/apps/$T/metrics -H @admin.cookie)" = 200 &&
			jq -e "[.points[] | select(.rps != null and .rps > 0)] | length >= 2" web.out \
				>/dev/null && break
		sleep 0.3
	done
	jq -c ".points[-3:]" web.out &&
	jq -e "[.points[] | select(.rps != null and .rps > 0)] | length >= 2" web.out &&
	jq -e ".points | all(has(\"t\") and has(\"rps\") and has(\"errors_5xx\") and
		has(\"upstream_errors\") and has(\"p50_ms\") and has(\"p99_ms\"))" web.out &&
	jq -e "[.points[] | select(.p99_ms != null and .p99_ms > 0)] | length >= 1" web.out &&
	grep -qi "^content-type: application/json" web.head
'

test_expect_success 'the SVG charts: valid SVG, with a line' '
	for c in requests latency errors; do
		test "$(web GET /apps/$T/charts/$c.svg -H @admin.cookie)" = 200 &&
		grep -qi "^content-type: image/svg+xml" web.head &&
		grep -qi "^x-content-type-options: nosniff" web.head &&
		grep -qi "^cache-control: no-store" web.head &&
		xmllint --noout web.out &&
		grep -q "<path d=\"M" web.out &&
		! grep -q "no traffic recorded yet" web.out || { echo "# $c.svg"; cat web.head; exit 1; }
	done
'

test_expect_success 'a user without rights on the app, or none at all, is refused' '
	test "$(web GET /api/v1/apps/$T/metrics -H @outsider.cookie)" = 404 &&
	test "$(web GET /apps/$T/charts/requests.svg -H @outsider.cookie)" = 404 &&
	! grep -q "<svg" web.out &&
	test "$(web GET /api/v1/apps/$T/metrics)" = 401 &&
	test "$(web GET /apps/$T/charts/latency.svg)" = 401 &&
	test "$(web GET /apps/$T/charts/cpu.svg -H @admin.cookie)" = 404
'

test_expect_success 'metrics:report reads the same counters, no metrics port needed' '
	bd metrics:report $T --format json >report.json &&
	cat report.json &&
	jq -e ".counted == true and .requests > 0" report.json
'

test_expect_success 'apps:destroy takes its chart points with it, and the sampler forgets it' '
	on $H "docker exec berthd test -s /var/lib/berthd/metrics/$T.json" &&
	bd apps:destroy $T --force &&
	for i in $(seq 30); do
		on $H "docker exec berthd test -e /var/lib/berthd/metrics/$T.json" || break
		sleep 0.2
	done &&
	! on $H "docker exec berthd test -e /var/lib/berthd/metrics/$T.json" &&
	sleep 1.5 &&
	! on $H "docker exec berthd test -e /var/lib/berthd/metrics/$T.json"
'

test_done
