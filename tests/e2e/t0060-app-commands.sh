#!/usr/bin/env bash
# berth app, prune, details and registry against containers on two lab hosts.
# The containers are started here by hand with the names and labels of
# engine/app.h, as a deploy would leave them.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
h1=${hosts[0]} h2=${hosts[1]}
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0
on() { local h=$1; shift; ssh -F "$LAB_SSH_CONFIG" "$h" "$@"; }
reg=$LAB_REGISTRY
repo=$reg/berth-testapp
rd=/run/berth-$T
pw="pw-$T-$RANDOM$RANDOM"

# v1, v2 and v3 of the app: the test app tagged three times (three image ids, so
# that removing one tag does not touch the others)
# reg_delete TAG: deletes the tag's manifest from the lab registry (unique to this test)
reg_delete() {
	local d
	d=$(curl -sfI -H "Accept: application/vnd.docker.distribution.manifest.v2+json" \
		"http://$reg/v2/berth-testapp/manifests/$1" | tr -d '\r' |
		awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
	[ -z "$d" ] || curl -sf -X DELETE "http://$reg/v2/berth-testapp/manifests/$d"
}
for v in v1 v2 v3; do
	test_cleanup "docker rmi -f $repo:$v; reg_delete $v"
done
for h in "$h1" "$h2"; do
	test_cleanup "on $h 'docker ps -aq --filter label=service=$T | xargs -r docker rm -f; docker image ls -q $repo | sort -u | xargs -r docker rmi -f; rm -rf $rd'"
done
test_cleanup "docker logout $reg; on $h1 docker logout $reg; on $h2 docker logout $reg"
# server bootstrap makes the user deploy and sets log rotation on h1 and h2
for h in "$h1" "$h2"; do
	test_cleanup "on $h 'userdel -r deploy; rm -f /etc/docker/daemon.json; docker rm -f $T-vol; docker volume rm $T-named'"
done

mkdir -p "$TEST_TMP/project/config" "$TEST_TMP/project/.kamal"
cd "$TEST_TMP/project" || exit 1
cat >config/deploy.yml <<EOF
service: $T
image: berth-testapp
builder:
  arch: amd64
servers:
  web:
    hosts: [$h1, $h2]
  jobs:
    hosts: [$h1]
    cmd: --port 8080
registry:
  server: $reg
  username: tester
  password: [REG_PW]
ssh:
  config: $LAB_SSH_CONFIG
run_directory: $rd
retain_containers: 1
aliases:
  probe: app exec --reuse -r jobs "/testapp --help"
EOF
printf 'REG_PW=%s\n' "$pw" >.kamal/secrets

# start HOST ROLE VERSION [ARGS...]: the container a deploy of VERSION leaves
start() {
	local h=$1 role=$2 v=$3
	shift 3
	on "$h" docker run -d --name "$T-$role-$v" --network berth --label "service=$T" \
		--label destination= --label "role=$role" --label "version=$v" "$repo:$v" --version "$v" "$@" >/dev/null
}

test_expect_success 'setup: three versions on the hosts, v2 running, v3 running too' '
	for v in v1 v2 v3; do
		printf "FROM berth-testapp:latest\nLABEL v=$v-$T\n" | docker build -q -t "$repo:$v" - &&
		docker push -q "$repo:$v" >/dev/null || exit 1
	done &&
	for h in "$h1" "$h2"; do
		on "$h" "docker network inspect berth >/dev/null 2>&1 || docker network create berth >/dev/null" &&
		on "$h" "mkdir -p $rd/apps/$T/env && printf \"GREETING=hi\\n\" >$rd/apps/$T/env/web.env && : >$rd/apps/$T/env/jobs.env" &&
		for v in v1 v2 v3; do on "$h" docker pull -q "$repo:$v" >/dev/null || exit 1; done &&
		start "$h" web v1 && on "$h" docker stop "$T-web-v1" >/dev/null &&
		start "$h" web v2 &&
		start "$h" web v3 || exit 1
	done &&
	start "$h1" jobs v3 --port 8080
'

test_expect_success 'server bootstrap finds docker on every host' '
	"$BERTH" server bootstrap >out &&
	grep_q out "^$h1 \| docker is there: Docker version" &&
	grep_q out "^$h2 \| docker is there: Docker version"
'

test_expect_success 'server exec and doctor take the hosts and ssh settings from the config' '
	"$BERTH" server exec -- echo ok >out &&
	grep_q out "^$h1 +\| ok$" && grep_q out "^$h2 +\| ok$" &&
	"$BERTH" server exec -r jobs "echo one; echo two" >out &&
	printf "one\ntwo\n" >want && diff -u want out &&
	"$BERTH" server exec -p -- echo ok >out && test "$(cat out)" = ok &&
	{ "$BERTH" doctor --json -r jobs >out.json || true; } &&
	jq -e ".hosts | length == 1 and .[0].host == \"$h1\"" out.json &&
	{ "$BERTH" doctor --json >out.json || true; } &&
	jq -e ".hosts | length == 2" out.json
'

test_expect_success 'ssh.key_data: the key from secrets reaches ssh through an agent of the run' '
	unset SSH_AUTH_SOCK &&
	sed -e "s|config: $LAB_SSH_CONFIG\$|config: $LAB_SSH_CONFIG_NOKEY|" config/deploy.yml >config/nokey.yml &&
	grep -q nokey config/nokey.yml &&
	test_must_fail "$BERTH" server exec -c config/nokey.yml -r jobs -- echo ok 2>err &&
	grep_q err "Permission denied" &&
	sed -i "s|config: $LAB_SSH_CONFIG_NOKEY\$|&\n  key_data: [LAB_SSH_KEY]|" config/nokey.yml &&
	printf "LAB_SSH_KEY=\"\$(cat %s)\"\n" "$LAB_KEY" >>.kamal/secrets &&
	"$BERTH" server exec -c config/nokey.yml -r jobs -vv -- echo ok >out 2>err &&
	test "$(cat out)" = ok &&
	! grep -q "PRIVATE KEY" err &&
	! grep -rqs "PRIVATE KEY" /tmp/berth-agent-* &&
	test -z "$(pgrep -f "ssh-agent -D -a /tmp/berth-agent" || true)" &&
	sed -i "s|key_data: \[LAB_SSH_KEY\]|&\n  keys_only: true|" config/nokey.yml &&
	"$BERTH" server exec -c config/nokey.yml -r jobs -- echo ok >out &&
	test "$(cat out)" = ok &&
	sed -i "s/\[LAB_SSH_KEY\]/[NO_SUCH_KEY]/" config/nokey.yml &&
	test_must_fail "$BERTH" server exec -c config/nokey.yml -r jobs -- echo ok 2>err &&
	grep_q err "ssh.key_data: secret .NO_SUCH_KEY. is not set"
'

test_expect_success 'containers lists every container of the app on both hosts' '
	{ "$BERTH" app containers >out 2>err || { cat err; exit 1; }; } &&
	grep_q out "^$h1 +\| .*$T-web-v1" &&
	grep_q out "^$h2 +\| .*$T-web-v3" &&
	grep_q out "^$h1 +\| .*$T-jobs-v3" &&
	"$BERTH" app containers -r jobs >out &&
	grep_q out "$T-jobs-v3" && ! grep -q "$T-web" out
'

test_expect_success 'details shows the running ones only; images lists the repo' '
	"$BERTH" app details -h "$h2" >out &&
	grep_q out "$T-web-v2" && grep_q out "$T-web-v3" && ! grep -q "$T-web-v1" out &&
	"$BERTH" app images -h "$h1" >out &&
	grep_q out "berth-testapp +v3" && grep_q out "berth-testapp +v1"
'

test_expect_success 'version is the newest running container of each role' '
	"$BERTH" app version >out &&
	grep_q out "^$h1 web +\| v3$" && grep_q out "^$h2 web +\| v3$" &&
	grep_q out "^$h1 jobs +\| v3$" &&
	"$BERTH" app version -r web -h "$h2" >out &&
	test "$(cat out)" = v3 &&
	"$BERTH" app version --json -r jobs | jq -e ".[0].version == \"v3\" and .[0].host == \"$h1\""
'

test_expect_success 'stale_containers lists v2; --stop stops it' '
	"$BERTH" app stale_containers -r web >out &&
	grep_q out "^$h1 web +\| $T-web-v2$" && grep_q out "^$h2 web +\| $T-web-v2$" &&
	! grep -q v3 out &&
	"$BERTH" app stale_containers -r web --stop -h "$h1" >out &&
	grep_q out "$T-web-v2 stopped" &&
	test "$(on "$h1" docker inspect -f "{{.State.Running}}" "$T-web-v2")" = false &&
	test "$(on "$h2" docker inspect -f "{{.State.Running}}" "$T-web-v2")" = true
'

test_expect_success 'logs: -n, -g, --container' '
	"$BERTH" app logs -r web -h "$h1" -n 1 >out &&
	test "$(wc -l <out)" = 1 && grep_q out "testapp version=v3 .*listening on" &&
	"$BERTH" app logs -r web -g "version=v3 host" -T >out &&
	grep_q out "^$h1 web +\| testapp version=v3 host=" &&
	grep_q out "^$h2 web +\| testapp version=v3 host=" &&
	"$BERTH" app logs -r web -g "no such line anywhere" >out &&
	test ! -s out &&
	# a pattern is grep'"'"'s argument, never shell text
	"$BERTH" app logs -r web -h "$h1" -g "\$(touch /tmp/$T-pwned); x" >out &&
	! on "$h1" test -e /tmp/$T-pwned &&
	"$BERTH" app logs -r web -h "$h1" --container "$T-web-v1" -T >out &&
	grep_q out "^testapp version=v1 "
'

test_expect_success 'exec runs a one-off container of the running version' '
	"$BERTH" app exec -r web -- --help >out 2>err &&
	grep_q out "^$h1 web +\| usage: testapp" && grep_q out "^$h2 web +\| usage: testapp" &&
	test -z "$(on "$h1" docker ps -aq --filter label=service=$T --filter name=exec)" &&
	"$BERTH" app exec -r web -h "$h1" --version v1 -- "--version zz --help" >out &&
	grep_q out "^usage: testapp"
'

test_expect_success 'exec -e sets the environment, new container or running one; -p one host' '
	"$BERTH" app exec -r web -e "FOO=a,b c" -e BAR:2 -- --exit 0 --print-env FOO >out &&
	grep_q out "^$h1 web +\| FOO=a,b c$" && grep_q out "^$h2 web +\| FOO=a,b c$" &&
	"$BERTH" app exec -r web -p -e "BAR:2" -- --exit 0 --print-env BAR >out &&
	test "$(head -n 1 out)" = "BAR=2" &&
	"$BERTH" app exec --reuse -r jobs -e FOO=x /testapp --exit 0 --print-env FOO >out &&
	test "$(head -n 1 out)" = "FOO=x" &&
	"$BERTH" app version -p >out && grep_q out "^$h1 web +\| v3$" && ! grep -q "$h2" out &&
	"$BERTH" app version -p -r jobs >out && test "$(cat out)" = v3 &&
	test_must_fail "$BERTH" app exec -e NOVALUE -- --help 2>err && grep_q err "expected KEY=VALUE"
'

test_expect_success 'exec --detach leaves the one-off container running' '
	"$BERTH" app exec -r web -h "$h1" --detach -e KAMAL_X=1 -- --port 9 >out &&
	id=$(on "$h1" docker ps -q --filter label=service=$T --filter name=exec) &&
	test -n "$id" && test_cleanup "on $h1 docker rm -f $id" &&
	test "$(on "$h1" docker inspect -f "{{.HostConfig.AutoRemove}}/{{.State.Running}}" $id)" = "false/true" &&
	on "$h1" docker rm -f $id >/dev/null &&
	test_must_fail "$BERTH" app exec --detach --reuse -r jobs /testapp 2>err &&
	grep_q err "not with --reuse"
'

test_expect_success 'exec -i on a terminal: one host, ssh -t and docker run -it' '
	script -qec "$BERTH app exec -i -r web -- --help" /dev/null </dev/null >out 2>&1 &&
	grep_q out "interactive: on .$h1. \(role web\)" &&
	grep_q out "usage: testapp" &&
	test "$(grep -c "usage: testapp" out)" = 1
'

test_expect_success 'exec --reuse runs in the running container' '
	"$BERTH" app exec --reuse -r jobs /testapp --help >out &&
	grep_q out "^usage: testapp" &&
	test_must_fail "$BERTH" app exec --reuse -r jobs /no-such-binary 2>err
'

test_expect_success 'an alias with options before its command runs it, and exits cleanly' '
	"$BERTH" probe >out 2>err &&
	grep_q out "^usage: testapp" &&
	test "$(grep -c "usage: testapp" out)" = 1
'

test_expect_success 'stop stops the newest running container, start starts the newest' '
	"$BERTH" app stop -r web -h "$h2" &&
	test "$(on "$h2" docker inspect -f "{{.State.Running}}" "$T-web-v3")" = false &&
	test "$(on "$h2" docker inspect -f "{{.State.Running}}" "$T-web-v2")" = true &&
	"$BERTH" app version -r web -h "$h2" >out && test "$(cat out)" = v2 &&
	"$BERTH" app start -r web -h "$h2" &&
	test "$(on "$h2" docker inspect -f "{{.State.Running}}" "$T-web-v3")" = true
'

test_expect_success 'maintenance makes the proxy answer 503 with the message; live undoes it' '
	# berth-proxy as berth proxy boot starts it (the deploy tests leave one running)
	if ! on "$h1" docker ps -q --filter name=^berth-proxy\$ | grep -q .; then
		make -s -C "$TOP" image >/dev/null &&
		"$BERTH" proxy boot -h "$h1" >/dev/null &&
		test_cleanup "on $h1 docker rm -f berth-proxy"
	fi &&
	test_cleanup "on $h1 docker exec berth-proxy berth-proxy remove $T-web" &&
	on "$h1" docker exec berth-proxy berth-proxy deploy "$T-web" --target "$T-web-v3:80" \
		--host "$T.test" >/dev/null &&
	get() { on "$h1" "curl -s -o /dev/null -w %{http_code} -H '"'"'Host: $T.test'"'"' http://127.0.0.1/"; } &&
	i=0 && until test "$(get)" = 200; do i=$((i + 1)); test $i -lt 100; sleep 0.1; done &&
	"$BERTH" app maintenance -r web -h "$h1" -m "back at five" --drain-timeout 3 -v 2>err &&
	grep_q err "berth-proxy stop $T-web .*--drain-timeout=3s" &&
	test "$(get)" = 503 &&
	on "$h1" "curl -s -H '"'"'Host: $T.test'"'"' http://127.0.0.1/" | grep -q "back at five" &&
	"$BERTH" app live -r web -h "$h1" &&
	test "$(get)" = 200 &&
	test_must_fail "$BERTH" app maintenance -r jobs 2>err &&
	grep_q err "none of the chosen roles is behind the proxy"
'

test_expect_success 'berth details shows the proxy and app containers of each host' '
	"$BERTH" details >out &&
	grep_q out "^$h1 +\| .*$T-web-v3" && grep_q out "^$h2 +\| .*$T-web-v3" &&
	grep_q out "berth-proxy"
'

test_expect_success 'prune containers keeps retain_containers stopped ones per role' '
	on "$h1" docker stop "$T-web-v2" >/dev/null 2>&1 || true
	# h1 web: v1 and v2 stopped, v3 running: retain 1 keeps v2
	"$BERTH" prune containers -h "$h1" &&
	test -z "$(on "$h1" docker ps -aq --filter name=^$T-web-v1\$)" &&
	test -n "$(on "$h1" docker ps -aq --filter name=^$T-web-v2\$)" &&
	test -n "$(on "$h1" docker ps -aq --filter name=^$T-web-v3\$)"
'

test_expect_success 'prune images removes unused tags past the newest' '
	test_must_fail "$BERTH" prune images -h "$h1" --retain 0 2>err &&
	grep_q err "keep at least 1" &&
	"$BERTH" prune images -h "$h1" --retain 5 &&
	on "$h1" docker image ls --format "{{.Tag}}" "$repo" | sort >out &&
	printf "v1\nv2\nv3\n" >want && diff -u want out &&
	"$BERTH" prune images -h "$h1" &&
	on "$h1" docker image ls --format "{{.Tag}}" "$repo" | sort >out &&
	printf "v2\nv3\n" >want && diff -u want out
'

test_expect_success 'prune volumes lists dangling anonymous volumes, asks, and keeps the rest' '
	anon=$(on "$h1" docker volume create) && echo "$anon" >anon &&
	on "$h1" docker volume create "$T-named" >/dev/null &&
	on "$h1" docker run -q --name "$T-vol" -v /keep "$repo:v3" true >/dev/null 2>&1 || true
	used=$(on "$h1" "docker inspect -f \"{{range .Mounts}}{{.Name}}{{end}}\" $T-vol") &&
	test -n "$used" &&
	test_must_fail "$BERTH" prune volumes -h "$h1" >out 2>err </dev/null &&
	grep_q out "^$h1 \| $anon " && ! grep -q "$T-named\|$used" out &&
	grep_q err "say yes with -y" &&
	on "$h1" docker volume inspect "$anon" >/dev/null &&
	"$BERTH" prune volumes -y -h "$h1" >out 2>&1 &&
	grep_q out "removed $anon" &&
	test_must_fail on "$h1" docker volume inspect "$anon" >/dev/null 2>&1 &&
	on "$h1" docker volume inspect "$T-named" "$used" >/dev/null &&
	"$BERTH" prune volumes -y -h "$h1" >out 2>&1 && grep_q out "no dangling anonymous volumes"
'

test_expect_success 'prune builder, and all, prune build cache unused for a week' '
	"$BERTH" prune builder -h "$h1" >out 2>&1 && grep_q out "Total reclaimed space" &&
	grep_q out "pruned build cache unused for a week" &&
	"$BERTH" prune all -h "$h1" >out 2>&1 && grep_q out "pruned build cache"
'

test_expect_success 'registry login sends the password on stdin only' '
	mkdir -p bin &&
	cat >bin/docker <<-SHIM &&
	#!/bin/sh
	printf "%s\\n" "\$@" >>$PWD/docker-args
	cat >$PWD/docker-stdin
	exec /usr/bin/docker "\$@" <$PWD/docker-stdin
	SHIM
	chmod +x bin/docker &&
	PATH=$PWD/bin:$PATH "$BERTH" registry login -R >out 2>err &&
	grep_q docker-args "^--password-stdin$" &&
	! grep -q -- "$pw" docker-args &&
	test "$(cat docker-stdin)" = "$pw" &&
	# on the hosts: the ssh command line holds no password either
	"$BERTH" registry login -L -v >out 2>err &&
	grep_q err "docker login $reg -u tester --password-stdin" &&
	! grep -q -- "$pw" out err
'

test_expect_success 'registry login on the hosts; logout' '
	"$BERTH" registry login -L >out 2>err &&
	on "$h1" cat /root/.docker/config.json | grep -q "$reg" &&
	"$BERTH" registry logout >out 2>err &&
	! on "$h1" cat /root/.docker/config.json 2>/dev/null | grep -q "\"$reg\""
'

test_expect_success 'build push builds the git version, labelled, and pushes it' '
	printf "FROM berth-testapp:latest\nLABEL t=$T\n" >Dockerfile &&
	printf "*\n!.gitignore\n!Dockerfile\n!config/\n!config/deploy.yml\n" >.gitignore &&
	git init -q . && git add .gitignore Dockerfile config/deploy.yml &&
	git -c user.name=t -c user.email=t@t commit -qm one &&
	sha=$(git rev-parse HEAD) &&
	test_cleanup "docker rmi -f $repo:$sha; reg_delete $sha" &&
	"$BERTH" build push >out 2>err &&
	test "$(tail -n 1 out)" = "$repo:$sha" &&
	test "$(docker image inspect -f "{{index .Config.Labels \"service\"}}" "$repo:$sha")" = "$T" &&
	curl -sf "http://$reg/v2/berth-testapp/tags/list" | grep -q "\"$sha\"" &&
	"$BERTH" build details >out &&
	grep_q out "^build: +docker build -t $repo:$sha --label service=$T --platform linux/amd64 \.$"
'

test_expect_success 'build pull puts it on the hosts' '
	sha=$(git rev-parse HEAD) &&
	"$BERTH" build pull -h "$h2" 2>err &&
	on "$h2" docker image inspect "$repo:$sha" >/dev/null &&
	! on "$h1" docker image inspect "$repo:$sha" >/dev/null 2>&1
'

test_expect_success 'a dirty tree gets an _uncommitted_ version' '
	echo "LABEL dirty=1" >>Dockerfile &&
	"$BERTH" build details >out &&
	grep_q out "^image: +$repo:$(git rev-parse HEAD)_uncommitted_[0-9a-f]{12}$" &&
	git checkout -q Dockerfile
'

test_expect_success 'remove asks for -y without a terminal, then removes everything' '
	test_must_fail "$BERTH" app remove 2>err &&
	grep_q err "say yes with -y" &&
	"$BERTH" app remove -y &&
	for h in "$h1" "$h2"; do
		test -z "$(on "$h" docker ps -aq --filter label=service=$T)" &&
		test -z "$(on "$h" docker image ls -q "$repo")" || exit 1
	done
'

test_done
