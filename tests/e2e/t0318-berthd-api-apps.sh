#!/usr/bin/env bash
# The JSON API's app routes and jobs against berthd on a lab host set up by
# `berth server bootstrap --daemon --root-domain`, through berth-proxy with
# an ACME certificate (pebble): a session logs in with curl; an image is
# deployed through the API and its job polled until it succeeds, then a
# tarball built as `caprover deploy -t`'s upload is, the jobs' lines
# coming through /api/v1/jobs/ID; the app shows the release; a config value
# set through the API is in no answer, no job line and no process's argv
# on the host while the job runs; a domain is added, web scaled to 2 and
# the first version rolled back to; a viewer gets 403 on every change. The
# host's check: berthd serve's own at start, then one asked for through
# POST /api/v1/server/doctor, doctor's verdicts of the real host in
# GET /api/v1/server, its helper container gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h3
. "$TOP/tests/e2e/berthd-lib.sh"
berthd_gone

test_expect_success 'pebble, and berth-proxy on the host pointed at it' '
	pebble_up
'

test_expect_success 'bootstrap --root-domain routes the panel and prints a one-time set-up link' '
	berthd_bootstrap &&
	bd apps:create $T >/dev/null
'

test_expect_success 'HTTPS with an ACME certificate; plain HTTP redirects; before set-up: 403' '
	for i in $(seq 60); do
		st=$(api GET /api/v1/apps 2>/dev/null) && test "$st" = 403 && break
		sleep 1
	done
	test "$st" = 403 &&
	grep -q "panel:setup-link" api.out &&
	grep -q "Issued certificate serial" pebble.log &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: berth.$ROOT" "http://$ADDR/api/v1/apps")" = 301 &&
	test "$(api POST /api/v1/login -H "Content-Type: application/json" -d "{\"name\":\"x\",\"password\":\"y\"}")" = 403 &&
	test "$(api GET /up)" = 200
'


# Two images of the test app, built by the host's own dockerd (the lab shares this machine's
# files): what the API deploys.
for v in v1 v2; do
	mkdir -p "$TEST_TMP/img-$v" && cp "$TOP/build/testapp" "$TEST_TMP/img-$v/testapp"
	printf 'FROM scratch\nLABEL berth-e2e-test=%s\nCOPY testapp /testapp\nENV APP_VERSION=%s\nCMD ["/testapp"]\n' \
		"$T" "$v" >"$TEST_TMP/img-$v/Dockerfile"
done
test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T) $T-img:v1 $T-img:v2; docker exec berth-proxy berth-proxy remove $T-web'"
SECRET="s3cr3t-$T-$RANDOM$RANDOM"
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }

# job_wait ID: polls GET /api/v1/jobs/ID?from=N (at most 180 times, a second apart) until the
# job is no longer running, gathering its lines in job-ID.lines and every answer in jobs.out;
# prints the final state.
job_wait() {
	local id=$1 next=0 st state=running i
	: >"job-$id.lines"
	for i in $(seq 180); do
		st=$(api GET "/api/v1/jobs/$id?from=$next" -b "$TEST_TMP/jar") && test "$st" = 200 ||
			{ echo "job $id: $st" >&2; cat api.out >&2; return 1; }
		cat api.out >>jobs.out
		jq -r ".lines[]" api.out >>"job-$id.lines"
		next=$(jq -r .next api.out)
		state=$(jq -r .state api.out)
		test "$state" != running && break
		sleep 1
	done
	cat "job-$id.lines" >&2
	echo "$state"
}
# change PATH JSON: a change by the admin's session (202); the job's ID in job.id
change() {
	local m=POST
	if [[ $1 == DELETE ]]; then m=DELETE; shift; fi
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	# the body on curl's stdin: the host's ps sees this machine's processes too
	st=$(printf '%s' "${2:-}" | api $m "$1" -b "$TEST_TMP/jar" "${h[@]}" ${2:+--data-binary @-}) &&
	cat api.out >>answers.out &&
	{ test "$st" = 202 || { echo "$1: $st" >&2; cat api.out >&2; return 1; }; } &&
	jq -r .job api.out >job.id
}

test_expect_success 'set-up link, an admin and a viewer of the app log in' '
	tok=$(sed "s/.*token=//" "$TEST_TMP/link") &&
	test "$(api POST /setup -c "$TEST_TMP/jar0" --data-urlencode "token=$tok" \
		--data-urlencode name=admin --data-urlencode "password=$PW")" = 303 &&
	test "$(api POST /api/v1/login -c "$TEST_TMP/jar" -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\"}")" = 200 &&
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	test "$(api POST /api/v1/users -b "$TEST_TMP/jar" "${h[@]}" \
		-d "{\"name\":\"viewer\",\"password\":\"$PW\",\"apps\":{\"$T\":\"viewer\"}}")" = 201 &&
	test "$(api POST /api/v1/login -c "$TEST_TMP/jarv" -H "Content-Type: application/json" \
		-d "{\"name\":\"viewer\",\"password\":\"$PW\"}")" = 200 &&
	bd domains:add $T $T.test >/dev/null &&
	test "$(api GET /api/v1/apps/$T -b "$TEST_TMP/jarv")" = 200 &&
	jq -e ".name == \"$T\" and .role == \"viewer\" and .deployed == false and .job == null" api.out &&
	test "$(api GET /api/v1/apps/$T-nope -b "$TEST_TMP/jar")" = 404
'

test_expect_success 'an image deployed through the API: a job, its lines, the release' '
	on $H "docker build -q -t $T-img:v1 $TEST_TMP/img-v1" >/dev/null &&
	change /api/v1/apps/$T/deploys "{\"image\":\"$T-img:v1\"}" && id=$(cat job.id) &&
	test "$(job_wait $id)" = succeeded &&
	grep -q -- "-----> " "job-$id.lines" &&
	test "$(served)" = v1 &&
	test "$(api GET /api/v1/apps/$T -b "$TEST_TMP/jar")" = 200 && cat api.out &&
	jq -e ".deployed == true and (.releases | length == 1) and .releases[0].current == true and .deploy_source == \"image\" and .job.id == \"$id\" and .job.state == \"succeeded\" and .job.action == \"git:from-image\"" api.out &&
	jq -r .version api.out >first.version &&
	tar -C "$TEST_TMP/img-v2" -czf v2.tgz Dockerfile testapp &&
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	st=$(api POST /api/v1/apps/$T/deploys -b "$TEST_TMP/jar" "${h[@]:0:4}" \
		-H "Content-Type: application/gzip" --data-binary @v2.tgz) &&
	{ test "$st" = 202 || { echo "tarball: $st"; cat api.out; false; }; } &&
	id=$(jq -r .job api.out) &&
	test "$(job_wait $id)" = succeeded &&
	grep -q -- "-----> Building $T" "job-$id.lines" &&
	test "$(served)" = v2
'

test_expect_success 'env set: the value in no answer, no job line, no argv on the host' '
	on $H "for i in \$(seq 200); do ps -eo args; echo ==; sleep 0.05; done" >ps.out 2>&1 &
	pspid=$!
	for i in $(seq 100); do grep -q "^==" ps.out && break; sleep 0.1; done
	change /api/v1/apps/$T/env "{\"set\":{\"SECRET_KEY\":\"$SECRET\"}}" && id=$(cat job.id) &&
	test "$(job_wait $id)" = succeeded &&
	wait $pspid
	grep -q "hook job $id" ps.out &&
	! grep -q "$SECRET" ps.out &&
	grep -q "SECRET_KEY" "job-$id.lines" && ! grep -q "$SECRET" "job-$id.lines" &&
	test "$(api GET /api/v1/apps/$T -b "$TEST_TMP/jar")" = 200 && cp api.out app.out &&
	jq -e ".env | map(.key) | index(\"SECRET_KEY\") != null" app.out &&
	! grep -q "$SECRET" app.out answers.out jobs.out &&
	test "$(bd config:get $T SECRET_KEY)" = "$SECRET" &&
	! on $H "docker exec berthd sh -c \"ls /var/lib/berthd/jobs/$id\"" | grep -q args &&
	! on $H "docker logs berthd 2>&1" | grep -q "$SECRET"
'

test_expect_success 'a domain added, web scaled to 2, each a job' '
	change /api/v1/apps/$T/domains "{\"domain\":\"www.$T.test\"}" && id=$(cat job.id) &&
	test "$(job_wait $id)" = succeeded && test -s "job-$id.lines" &&
	change /api/v1/apps/$T/scale "{\"web\":2}" && id=$(cat job.id) &&
	test "$(job_wait $id)" = succeeded && test -s "job-$id.lines" &&
	test "$(api GET /api/v1/apps/$T -b "$TEST_TMP/jar")" = 200 && cat api.out &&
	jq -e "(.domains | index(\"www.$T.test\") != null) and .scale.web == 2" api.out &&
	for i in $(seq 20); do
		n=$(on $H docker ps -q --filter label=service=$T --filter label=role=web | wc -l)
		test "$n" = 2 && break
		sleep 1
	done
	test "$n" = 2 &&
	test "$(curl -s --max-time 5 -H "Host: www.$T.test" "http://$ADDR/" | sed -n "s/^testapp version=\([^ ]*\) .*/\1/p")" = v2
'

test_expect_success 'rollback to the first version' '
	change /api/v1/apps/$T/rollback "{\"version\":\"$(cat first.version)\"}" && id=$(cat job.id) &&
	test "$(job_wait $id)" = succeeded && test -s "job-$id.lines" &&
	test "$(served)" = v1 &&
	test "$(api GET /api/v1/apps/$T -b "$TEST_TMP/jar")" = 200 &&
	jq -e ".version == \"$(cat first.version)\" and (.releases | length >= 3)" api.out
'

test_expect_success 'a viewer: 403 on every change, nothing started; the job lines readable' '
	mapfile -t h < <(csrf "$TEST_TMP/jarv") &&
	for r in "POST rollback {\"version\":\"$(cat first.version)\"}" \
		"POST env {\"set\":{\"K\":\"v\"}}" "POST domains {\"domain\":\"x.$T.test\"}" \
		"POST letsencrypt {\"enabled\":true}" "POST scale {\"web\":1}" \
		"POST deploys {\"image\":\"$T-img:v2\"}" "DELETE domains/www.$T.test {}"; do
		read -r m p b <<<"$r"
		st=$(api $m "/api/v1/apps/$T/$p" -b "$TEST_TMP/jarv" "${h[@]}" -d "$b")
		echo "$m $p: $st" && test "$st" = 403
	done &&
	test "$(api GET /api/v1/apps/$T -b "$TEST_TMP/jarv")" = 200 &&
	jq -e ".role == \"viewer\" and .job.action == \"releases:rollback\"" api.out &&
	id=$(jq -r .job.id api.out) &&
	test "$(api GET "/api/v1/jobs/$id?from=0" -b "$TEST_TMP/jarv")" = 200 &&
	jq -e ".state == \"succeeded\" and (.lines | length > 0)" api.out &&
	test "$(api GET "/api/v1/jobs/$id" -b "$TEST_TMP/jar0")" = 200 &&
	bd events $T >events.out && cat events.out &&
	grep -qE "user:admin +$T +config:set +SECRET_KEY job [0-9a-f]{32} from $HERE" events.out &&
	! grep -q "$SECRET" events.out
'

test_expect_success 'the host checked by berthd at start, then again when asked' '
	test "$(api GET /api/v1/server -b "$TEST_TMP/jarv")" = 403 &&
	for i in $(seq 120); do
		test "$(api GET /api/v1/server -b "$TEST_TMP/jar")" = 200 &&
		jq -e ".doctor != null" api.out >/dev/null && break
		sleep 1
	done &&
	cat api.out && at=$(jq -r .doctor.checked_at api.out) && test "$at" != null &&
	test "$(jq -r .domain api.out)" = "$ROOT" &&
	jq -e ".keys | map(.name) | index(\"admin-$T\") != null" api.out &&
	sleep 1 &&
	mapfile -t h < <(csrf "$TEST_TMP/jar") &&
	test "$(api POST /api/v1/server/doctor -b "$TEST_TMP/jar" "${h[@]}" -d "{}")" = 202 &&
	test "$(jq -r .checked_at api.out)" = "$at" &&
	for i in $(seq 120); do
		test "$(api GET /api/v1/server -b "$TEST_TMP/jar")" = 200 &&
		test "$(jq -r .doctor.checked_at api.out)" != "$at" && break
		sleep 1
	done &&
	cat api.out &&
	test "$(jq -r .doctor.checked_at api.out)" != "$at" &&
	jq -e ".doctor.status | IN(\"ok\", \"warn\", \"fail\")" api.out &&
	jq -e "[.doctor.checks[] | .status | IN(\"ok\", \"warn\", \"fail\")] | all" api.out &&
	jq -e ".doctor.checks | map(select(.name == \"docker\"))[0].status == \"ok\"" api.out &&
	jq -e ".doctor.checks | map(.name) | index(\"disk\") != null and index(\"memory\") != null and index(\"load\") != null" api.out &&
	test "$(on $H "docker exec berthd stat -c %a /var/lib/berthd/doctor.json")" = 644 &&
	test -z "$(on $H "docker ps -aq --filter label=berth.daemon.doctor=1")" &&
	bd events >events.out && grep -q "user:admin - panel:doctor from $HERE" events.out
'

test_done
