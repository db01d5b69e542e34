#!/usr/bin/env bash
# berth deploy across hosts, destinations, a registry and secrets: hosts
# booted in batches (boot.limit, boot.wait), a destination beside the plain
# deploy, the image through the lab's registry, no secret in any argv or
# output, --json events, and -r picking one role.
#
# The lab's registry has no authentication, so docker login to it succeeds
# with any password: the registry test checks what berth can be seen doing
# instead — docker login here and on the host with the password on stdin,
# never in an argv — and that the password docker was given is the configured
# secret (docker keeps it in ~/.docker/config.json, shared by the lab's hosts).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

# The checks below talk to the hosts often: one ssh connection per host, shared,
# closed after the cleanups (which use it too).
CM_DIR=$(mktemp -d "/tmp/berth-cm-$T.XXXX")
on() {
	local h=$1
	shift
	ssh -F "$LAB_SSH_CONFIG" -o ControlMaster=auto -o "ControlPath=$CM_DIR/%h" \
		-o ControlPersist=30 "$h" "$@"
}
_close_masters() {
	local h
	for h in "${hosts[@]}"; do
		ssh -F "$LAB_SSH_CONFIG" -o "ControlPath=$CM_DIR/%h" -O exit "$h" >/dev/null 2>&1
	done
	rm -rf "$CM_DIR"
}
trap '_run_cleanups; _close_masters' EXIT

REGISTRY=127.0.0.1:5000
REGISTRY_PASSWORD="rp-$T-$RANDOM$RANDOM"
printf 'REGISTRY_PASSWORD=%s\n' "$REGISTRY_PASSWORD" >>"$APP/.berth/secrets"
# With a destination berth reads secrets-common and secrets.DEST.
cp "$APP/.berth/secrets" "$APP/.berth/secrets.staging"
# The secret values, for grep -f: a secret never goes into an argv, not even the test's.
printf '%s\n' "$SECRET_VALUE" "$REGISTRY_PASSWORD" >"$TEST_TMP/secret-values"
STAGING_HOST=staging.$T.test

make_version v1
make_version v2

test_cleanup "on $h3 docker exec berth-proxy berth-proxy remove $T-web-staging"
for _h in "${hosts[@]}"; do
	test_cleanup "on $_h docker rmi -f $REGISTRY/$T:r1"
done
test_cleanup "docker rmi -f $REGISTRY/$T:r1 $T:r1"
# docker login keeps credentials in ~/.docker, which the lab's hosts share with this machine.
test_cleanup "docker logout $REGISTRY"
test_cleanup "delete_from_registry $T r1"

# delete_from_registry REPO TAG: removes the tag's manifest from the lab's registry.
delete_from_registry() {
	local digest
	digest=$(curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$REGISTRY/v2/$1/manifests/$2" | tr -d '\r' |
		sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
	[[ -n $digest ]] && curl -sf -X DELETE "http://$REGISTRY/v2/$1/manifests/$digest"
}

# cfg WEB_HOSTS [YAML...]: config/deploy.yml for $T: the web role on WEB_HOSTS
# (a YAML flow list), a worker role on $cfg_worker when set, plus the lines given.
cfg_worker=
cfg() {
	local web=$1 worker=
	shift
	if [[ -n $cfg_worker ]]; then
		printf -v worker '  worker:\n    hosts: [%s]\n    cmd: --port 8080\n    proxy: false\n' \
			"$cfg_worker"
	fi
	cat >"$APP/config/deploy.yml" <<YML
service: $T
image: $T
builder:
  arch: amd64
servers:
  web:
    hosts: $web
$worker
proxy:
  host: $T.test
  app_port: 80
  healthcheck:
    path: /up
    interval: 1
readiness_delay: 1
deploy_timeout: 15
drain_timeout: 1
retain_containers: 3
run_directory: $RUN_DIR
ssh:
  config: $LAB_SSH_CONFIG
env:
  clear:
    MODE: e2e
  secret: [SECRET_TOKEN]
YML
	printf '%s\n' "$@" >>"$APP/config/deploy.yml"
}

# line_of FILE REGEX: the number of FILE's first line matching REGEX (fails without one).
line_of() {
	local n
	n=$(grep -nE -m1 -- "$2" "$1" | cut -d: -f1)
	if [[ -z $n ]]; then
		echo "no /$2/ in $1" >&2
		return 1
	fi
	echo "$n"
}

# before FILE REGEX1 REGEX2: REGEX1's first line comes before REGEX2's.
before() {
	local a b
	a=$(line_of "$1" "$2") && b=$(line_of "$1" "$3") || return 1
	if ((a >= b)); then
		echo "/$2/ (line $a) is not before /$3/ (line $b) in $1" >&2
		return 1
	fi
}

# started_ns HOST CONTAINER: when the container started, in ns since the epoch
# (the lab's hosts share this machine's clock).
started_ns() {
	date -d "$(on "$1" docker inspect -f '{{.State.StartedAt}}' "$2")" +%s%N
}

# dest_running HOST ROLE DEST: the names of the role's running containers of destination DEST.
dest_running() {
	on "$1" docker ps --filter "label=service=$T" --filter "label=role=$2" \
		--filter "label=destination=$3" --format '{{.Names}}' | sort
}

# serving_host HOST NAME: the version that answers on HOST's port 80 for Host: NAME.
serving_host() {
	curl -s --max-time 5 -H "Host: $2" "http://$(addr_of "$1")/" |
		sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'
}

test_expect_success 'boot.limit 1: one host at a time, h1 then h2 then h3, each after the last switched' '
	cfg "[$h1, $h2, $h3]" "boot: {limit: 1, wait: 1}" &&
	berth deploy --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	for h in $h1 $h2 $h3; do
		echo "$h serves $(serving $h) from $(running $h web)"
		test "$(serving $h)" = v1 && test "$(running $h web)" = "$T-web-v1" || exit 1
	done
	before out "^$h1 web: started $T-web-v1" "^$h1 web: traffic moved to $T-web-v1" &&
	before out "^$h1 web: traffic moved" "^$h2 web: started $T-web-v1" &&
	before out "^$h2 web: started" "^$h2 web: traffic moved to $T-web-v1" &&
	before out "^$h2 web: traffic moved" "^$h3 web: started $T-web-v1" &&
	before out "^$h3 web: started" "^$h3 web: traffic moved to $T-web-v1" &&
	# boot.wait between the batches, and none after the last one
	grep -n "waiting 1s before the next hosts" out | cut -d: -f1 >waits &&
	echo "boot.wait notes on lines" $(cat waits) &&
	test "$(wc -l <waits)" = 2 &&
	w1=$(sed -n 1p waits) && w2=$(sed -n 2p waits) &&
	test "$(line_of out "^$h1 web: .* old container\(s\) stopped")" -lt "$w1" &&
	test "$w1" -lt "$(line_of out "^$h2 web: started")" &&
	test "$(line_of out "^$h2 web: .* old container\(s\) stopped")" -lt "$w2" &&
	test "$w2" -lt "$(line_of out "^$h3 web: started")" &&
	t1=$(started_ns $h1 $T-web-v1) && t2=$(started_ns $h2 $T-web-v1) &&
	t3=$(started_ns $h3 $T-web-v1) &&
	echo "started at $t1 $t2 $t3" && test "$t1" -lt "$t2" && test "$t2" -lt "$t3"
'

test_expect_success 'boot.limit 50%: of three hosts, h1 and h2 are the first batch, then h3' '
	cfg "[$h1, $h2, $h3]" "boot: {limit: 50%, wait: 1}" &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	for h in $h1 $h2 $h3; do
		echo "$h serves $(serving $h)"
		test "$(serving $h)" = v2 || exit 1
	done
	# h1 and h2 make the first batch and boot side by side, one wait, then h3
	before out "^$h1 web: started $T-web-v2" "waiting 1s before the next hosts" &&
	before out "^$h2 web: started $T-web-v2" "waiting 1s before the next hosts" &&
	test "$(grep -c "waiting 1s before the next hosts" out)" = 1 &&
	before out "^$h2 web: .* old container\(s\) stopped" "waiting 1s before the next hosts" &&
	before out "waiting 1s before the next hosts" "^$h3 web: started $T-web-v2"
'

test_expect_success 'a destination: its own names, env, proxy service, lock and journal' '
	cfg "[$h1, $h2, $h3]" &&
	cat >"$APP/config/deploy.staging.yml" <<-YML &&
	servers:
	  web:
	    hosts: [$h3]
	proxy:
	  host: $STAGING_HOST
	env:
	  clear:
	    MODE: staging
	YML
	on $h3 "docker inspect -f '"'"'{{.Id}} {{.State.StartedAt}}'"'"' $T-web-v2" >plain.before &&
	on $h3 cat $RUN_DIR/apps/$T/releases.jsonl >journal.before &&
	# the plain deploy is locked: the destination has a lock of its own
	berth lock acquire -m "held by the test" >lock.out 2>&1 &&
	berth deploy -d staging --version v1 -P >out 2>&1 || { cat lock.out out; berth lock release; exit 1; }
	berth lock status >lock.status 2>&1 || true
	berth lock release &&
	cat out lock.status &&
	grep -q "held by the test" lock.status &&
	grep -q "^$h3: deploy lock taken" out &&
	grep -q "^$h3 web: traffic moved to $T-web-staging-v1" out &&
	! grep -qE "^($h1|$h2) " out &&
	test "$(dest_running $h3 web staging)" = "$T-web-staging-v1" &&
	on $h3 docker exec $T-web-staging-v1 /testapp --exit 0 --print-env MODE >env &&
	grep -qx MODE=staging env &&
	test "$(serving_host $h3 $STAGING_HOST)" = v1 &&
	# the plain deploy goes on serving v2 from the very same container
	test "$(serving $h3)" = v2 &&
	on $h3 "docker inspect -f '"'"'{{.Id}} {{.State.StartedAt}}'"'"' $T-web-v2" >plain.after &&
	cmp plain.before plain.after &&
	for h in $h1 $h2 $h3; do
		on $h docker ps --filter label=service=$T --format "{{.Names}}" | grep -qx "$T-web-v2" || exit 1
	done
	# journals apart: the staging release in apps/$T-staging only
	on $h3 cat $RUN_DIR/apps/$T/releases.jsonl >journal.after &&
	cmp journal.before journal.after &&
	on $h3 cat $RUN_DIR/apps/$T-staging/releases.jsonl >journal.staging &&
	cat journal.staging &&
	jq -e "select(.version == \"v1\") | .destination == \"staging\" and .container == \"$T-web-staging-v1\"" \
		journal.staging &&
	! on $h3 test -e $RUN_DIR/apps/$T-staging/lock &&
	# the staging app goes: the tests below see the plain deploy alone
	on $h3 "docker rm -f $T-web-staging-v1 && docker exec berth-proxy berth-proxy remove $T-web-staging"
'

test_expect_success '--json: every line is a JSON object, step events then a summary' '
	rm -f "$APP/config/deploy.staging.yml" &&
	cfg "[$h3]" &&
	mkdir -p "$APP/.berth/hooks" &&
	printf "#!/bin/sh\necho deployed \$BERTH_VERSION\n" >"$APP/.berth/hooks/post-deploy" &&
	chmod +x "$APP/.berth/hooks/post-deploy" &&
	berth deploy --json --version v1 -P >out 2>err || { cat out err; exit 1; }
	cat out err &&
	test -s out && ! test -s err &&
	while IFS= read -r l; do
		printf "%s\n" "$l" | jq -e "type == \"object\" and (.event | type) == \"string\"" >/dev/null ||
			{ echo "not a JSON event: $l"; exit 1; }
	done <out
	jq -se "map(select(.event == \"step\" and .host == \"$h3\" and .role == \"web\" and .step == \"switch\" and .ok)) | length == 1" out &&
	jq -se "map(select(.event == \"step\")) | all(has(\"ms\") and has(\"message\"))" out &&
	jq -se "map(select(.event == \"note\" and .message == \"hook post-deploy: deployed v1\")) | length == 1" out &&
	jq -se "last | .event == \"summary\" and .version == \"v1\" and (.steps | map(.step) | index(\"switch\") != null)" out &&
	test "$(serving $h3)" = v1 &&
	# -H runs no hook; hooks_output quiet hides what one prints
	berth deploy --json --version v1 -P -H >out 2>err || { cat out err; exit 1; }
	! grep -q "hook post-deploy" out &&
	printf "hooks_output:\n  post-deploy: :quiet\n" >>"$APP/config/deploy.yml" &&
	berth deploy --json --version v1 -P >out 2>err || { cat out err; exit 1; }
	grep -q "hook post-deploy done" out && ! grep -q "hook post-deploy: deployed" out &&
	# a failed deploy: still JSON, on stdout and stderr
	test_must_fail berth deploy --json --version absent -P >out 2>err &&
	cat out err &&
	for f in out err; do
		while IFS= read -r l; do
			printf "%s\n" "$l" | jq -e "type == \"object\"" >/dev/null ||
				{ echo "not JSON in $f: $l"; exit 1; }
		done <$f
	done
	jq -se "map(select(.level == \"error\" and (.msg | contains(\"$T:absent\")))) | length == 1" err &&
	rm "$APP/.berth/hooks/post-deploy"
'

test_expect_success '-r worker deploys the worker alone, the web role stays' '
	cfg_worker=$h3 cfg "[$h3]" &&
	berth deploy -r worker --version v2 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(running $h3 worker)" = "$T-worker-v2" &&
	test "$(running $h3 web)" = "$T-web-v1" && test "$(serving $h3)" = v1 &&
	grep -qE "^$h3 worker: $T-worker-v2 is (running|ready)" out &&
	! grep -q " web: " out &&
	grep -q "^deployed v2 on 1 host(s)" out
'


test_expect_success 'registry: build, push, hosts log in and pull; no secret in any argv or output' '
	cc -O2 -o sampler "$TOP/tests/fixtures/argv-sampler.c" &&
	here=$(readlink /proc/self/ns/net) && there=$(on $h3 readlink /proc/self/ns/net) &&
	printf "FROM berth-testapp:latest\nENV APP_VERSION=r1\n" >"$APP/Dockerfile" &&
	mkdir -p "$APP/.berth/hooks" &&
	cat >"$APP/.berth/hooks/pre-deploy" <<-\SH &&
	#!/bin/sh
	echo "token=$(sed -n "s/^SECRET_TOKEN=//p" .berth/secrets) registry=$(sed -n "s/^REGISTRY_PASSWORD=//p" .berth/secrets)"
	SH
	chmod +x "$APP/.berth/hooks/pre-deploy" &&
	cfg "[$h3]" "registry:" "  server: $REGISTRY" "  username: u" "  password: [REGISTRY_PASSWORD]"
	./sampler >argv &
	spid=$!
	test_cleanup "kill $spid"
	sleep 0.3
	berth deploy -v --version r1 >out 2>&1 && rc=0 || rc=$?
	kill $spid && wait $spid || true
	cat out && test $rc = 0 &&
	echo "$(wc -l <argv) argv seen; here $here, on $h3 $there" &&
	# the sampler saw the deploy: the registry steps here and on the host, and the
	# container run on the host with its env file
	grep -aF "$here	docker login $REGISTRY -u u --password-stdin" argv &&
	grep -aF "$there	docker login $REGISTRY -u u --password-stdin" argv &&
	grep -aF "$here	docker push $REGISTRY/$T:r1" argv &&
	grep -aF "$there	docker pull --quiet $REGISTRY/$T:r1" argv &&
	# the container is started from here, through the forwarded Docker socket of
	# the host, its env on the docker CLI'"'"'s stdin; the env file is still written there
	grep -aF "$here	docker run " argv | grep -aF -- "--env-file=/dev/stdin" &&
	# the switch is a request to berth-proxy'"'"'s control socket, forwarded: no docker exec
	! grep -aF "docker exec berth-proxy berth-proxy deploy $T-web" argv &&
	on $h3 stat -c %a $RUN_DIR/apps/$T/env/web.env >mode && test "$(cat mode)" = 600 &&
	! grep -a -F -f "$TEST_TMP/secret-values" argv &&
	! grep -a -F -f "$TEST_TMP/secret-values" out &&
	# the image went through the registry and serves
	grep -q "^built $REGISTRY/$T:r1" out && grep -q "^pushed $REGISTRY/$T:r1" out &&
	grep -q "$REGISTRY/$T:r1 pulled on 1 host(s)" out &&
	test "$(serving $h3)" = r1 && test "$(running $h3 web)" = "$T-web-r1" &&
	on $h3 docker inspect -f "{{.Config.Image}}" $T-web-r1 >img && test "$(cat img)" = "$REGISTRY/$T:r1" &&
	# -v shows the remote commands
	grep -q "^$h3 \$ (here, docker of the host) docker run .*--env-file=/dev/stdin" out &&
	grep -q "^$h3 \$ (here, berth-proxy.s control socket of the host) deploy $T-web" out &&
	grep -q "run on $h3: docker login $REGISTRY -u u --password-stdin" out &&
	# the hook printed both secrets: berth shows them redacted
	grep -q "hook pre-deploy: token=\[REDACTED\] registry=\[REDACTED\]" out &&
	berth audit >audit 2>&1 && cat audit && grep -q "deploy r1 done" audit &&
	! grep -F -f "$TEST_TMP/secret-values" audit &&
	on $h3 cat $RUN_DIR/apps/$T/releases.jsonl $RUN_DIR/apps/$T/audit.log >state &&
	grep -q "\"version\":\"r1\"" state &&
	! grep -F -f "$TEST_TMP/secret-values" state &&
	# the registry accepts any login: what docker keeps shows the password it was given
	auth=$(jq -r ".auths[\"$REGISTRY\"].auth" ~/.docker/config.json | base64 -d) &&
	test "$auth" = "u:$REGISTRY_PASSWORD"
'

test_expect_success 'BERTH_DOCKER_HERE=0: every Docker command runs on the host, over ssh' '
	cfg "[$h3]" &&
	BERTH_DOCKER_HERE=0 berth deploy -v --version v2 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(serving $h3)" = v2 && test "$(running $h3 web)" = "$T-web-v2" &&
	grep -q "^$h3 \$ sh -c .<berth script>. berth $RUN_DIR/apps/$T/env/web.env" out &&
	grep -q "^$h3 \$ sh -c .<berth script>. .*docker exec berth-proxy berth-proxy deploy $T-web" out &&
	! grep -q "(here, " out
'

test_expect_success 'a deploy starts one SFTP session on a host, and no command' '
	cfg "[$h3]" &&
	log=$LAB_DIR/${h3#lab-}/sshd.log &&
	before=$(wc -l <"$log") &&
	berth deploy --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(serving $h3)" = v1 &&
	tail -n +"$((before + 1))" "$log" >sessions &&
	grep "Starting session" sessions; test "$(grep -c "Starting session: subsystem .sftp." sessions)" = 1 &&
	test "$(grep -c "Starting session: command" sessions)" = 0
'

test_expect_success 'a host'"'"'s roles boot one after another; boot.parallel_roles boots them at once' '
	cfg_worker=$h3 cfg "[$h3]" &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	before out "^$h3 web: [0-9]+ old container" "^$h3 worker: started" &&
	cfg_worker=$h3 cfg "[$h3]" "boot:" "  parallel_roles: true" &&
	berth deploy --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(running $h3 web)" = "$T-web-v1" && test "$(running $h3 worker)" = "$T-worker-v1"
'

test_expect_success 'error_pages_path: its 4xx and 5xx pages reach the proxy, which answers with them' '
	mkdir -p "$APP/public" &&
	echo "<p>$T rests: {{ .Message }}</p>" >"$APP/public/503.html" &&
	echo "not an error page" >"$APP/public/index.html" &&
	cfg "[$h3]" "error_pages_path: public" &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "1 error page(s) of public sent to 1 host(s)" out &&
	berth app maintenance -m "back soon" >out 2>&1 || { cat out; exit 1; }
	curl -s --max-time 5 -H "Host: $T.test" "http://$(addr_of $h3)/" >page &&
	cat page && grep -qx "<p>$T rests: back soon</p>" page &&
	berth app live >out 2>&1 || { cat out; exit 1; }
	test "$(serving $h3)" = v2
'

test_done
