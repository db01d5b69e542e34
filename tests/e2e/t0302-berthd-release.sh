#!/usr/bin/env bash
# berthd's path from a pushed revision to a serving app, on a lab host, as
# berthd runs it there: the revision's image built by that host's dockerd
# (daemon/push), deployed with the local executor behind the host's
# berth-proxy (daemon/release). The driver runs inside lab-h3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
lab_env
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0

DRIVER=${RELEASE_DRIVER:-$TOP/build/release-driver}
PROXY_IMAGE=berth-proxy:$(cat "$TOP/VERSION")
ADDR=$LAB_H3_ADDR
REPO=$TEST_TMP/repo
STATE=$TEST_TMP/state
SECRET_VALUE="s3cr3t-$T-$RANDOM$RANDOM"
HOST_H="Host: $T.test"

# h3 CMD...: runs CMD inside lab-h3, against its dockerd.
h3() { "$LAB" exec h3 "$@"; }
# driver ARGS...: the release driver on lab-h3, with what berthd's image has
# on its PATH: busybox's sh and tools, the docker CLI and git.
BB=$TEST_TMP/bin
mkdir -p "$BB"
busybox --install -s "$BB"
ln -sf "$(command -v docker)" "$BB/docker"
ln -sf "$(command -v git)" "$BB/git"
driver() { h3 env PATH="$BB" "$DRIVER" "$@"; }
# push REV: builds and deploys REV, the way the pre-receive hook does.
push() { driver push "$T" "$REPO/.git" "$1" "$STATE" -d "$T.test" -e "SECRET_X=$SECRET_VALUE" "${@:2}"; }
# serving: the version that answers through lab-h3's berth-proxy.
serving() {
	curl -s --max-time 5 -H "$HOST_H" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'
}
# running ROLE: the names of the app's running containers of ROLE.
running() { h3 docker ps --filter "label=service=$T" --filter "label=role=$1" --format '{{.Names}}' | sort; }

# commit VERSION [DOCKERFILE LINE...]: a commit of the app answering VERSION; prints its hash.
commit() {
	local v=$1 l
	shift
	{
		echo "FROM scratch"
		echo "COPY testapp /testapp"
		echo "ENV APP_VERSION=$v"
		for l in "$@"; do echo "$l"; done
		echo 'CMD ["/testapp"]'
	} >"$REPO/Dockerfile"
	git -C "$REPO" add -A >/dev/null &&
		git -C "$REPO" -c user.name=t -c user.email=t@t commit -q -m "$v" >/dev/null &&
		git -C "$REPO" rev-parse HEAD
}

mkdir -p "$REPO" "$STATE"
git init -q "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
cat >"$REPO/app.json" <<'JSON'
{"healthchecks": {"web": [{"type": "startup", "path": "/up", "attempts": 8, "wait": 1,
  "timeout": 2, "uptime": 1}]}}
JSON

# berth-proxy's image on lab-h3 (the engine boots the proxy from it), and
# the proxy removed at the end when this test started it; cleanups run last
# registered first: the app, then the proxy, then images
proxy_was_there=$(h3 docker ps -q --filter name=^berth-proxy\$)
image_was_there=$(h3 docker images -q "$PROXY_IMAGE")
h3 docker images -q --filter dangling=true | sort >"$TEST_TMP/dangling-before"
if [[ -z $image_was_there ]]; then
	test_cleanup "h3 docker rmi -f $PROXY_IMAGE"
fi
# what a failed build leaves: its intermediate images, untagged
test_cleanup "h3 docker images -q --filter dangling=true | sort | comm -13 '$TEST_TMP/dangling-before' - | xargs -r $LAB exec h3 docker rmi"
if [[ -z $proxy_was_there ]]; then
	test_cleanup "h3 sh -c 'docker rm -f berth-proxy berth-proxy-ports; docker volume rm berth-proxy; docker network rm berth'"
fi
test_cleanup "h3 sh -c 'docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web'"

if [[ -z $image_was_there && -z $proxy_was_there ]]; then
	test_expect_success 'without berth-proxy and its image on the host, a deploy says so' '
		rev=$(commit v0) &&
		test_must_fail push "$rev" >out 2>&1 &&
		cat out &&
		grep -q "^error: host .localhost.: the image .$PROXY_IMAGE. is not in this host.s dockerd: load it there" out &&
		test -z "$(running web)"
	'
fi
if [[ -z $image_was_there ]]; then
	if [[ -z $(docker images -q "$PROXY_IMAGE") ]]; then
		make -s -C "$TOP" image >/dev/null
	fi
	docker save "$PROXY_IMAGE" | h3 docker load >/dev/null
fi

test_expect_success 'a pushed revision is built and serves through berth-proxy' '
	rev=$(commit v1) && echo "$rev" >rev1 &&
	push "$rev" >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "^-----> Building $T from Dockerfile" out &&
	grep -q "^       Step 2/.* : COPY testapp /testapp" out &&
	grep -q "^-----> Built berthd/$T:${rev:0:12}" out &&
	# built in this dockerd: nothing to send
	grep -q "^       berthd/$T:${rev:0:12} is here" out &&
	grep -q "^       localhost web: traffic moved to $T-web-${rev:0:12}" out &&
	test "$(serving)" = v1 &&
	test "$(running web)" = "$T-web-${rev:0:12}" &&
	! grep -q "$SECRET_VALUE" out
'

test_expect_success 'config vars reach the app from a 0600 env file; PORT is 5000' '
	v=$(cut -c1-12 rev1) &&
	stat -c %a "$STATE/run/apps/$T/env/web.env" >mode && cat mode && test "$(cat mode)" = 600 &&
	h3 docker exec $T-web-$v /testapp --exit 0 --print-env SECRET_X >env &&
	h3 docker exec $T-web-$v /testapp --exit 0 --print-env PORT >>env &&
	cat env &&
	grep -qx "SECRET_X=$SECRET_VALUE" env && grep -qx "PORT=5000" env
'

test_expect_success 'v2 deploys under continuous load with no failed request' '
	rev=$(commit v2) && echo "$rev" >rev2 &&
	rm -f "$TEST_TMP/stop" &&
	a=http://$ADDR/ &&
	{ load_loop "$TEST_TMP/load" -H "$HOST_H" $a $a $a $a & } &&
	{ load_loop "$TEST_TMP/slow" -H "$HOST_H" "${a}slow?ms=300" & } &&
	{ push "$rev" >out 2>&1 || { cat out; touch "$TEST_TMP/stop"; wait; exit 1; }; } &&
	sleep 0.5 &&
	touch "$TEST_TMP/stop" && wait &&
	cat out &&
	check_load "$TEST_TMP/load" "v1|v2" && check_load "$TEST_TMP/slow" "v1|v2" &&
	grep -q "version=v2" "$TEST_TMP/load" &&
	test "$(serving)" = v2 &&
	test "$(running web)" = "$T-web-${rev:0:12}"
'

test_expect_success 'a version whose checks never pass fails with its lines; v2 still serves' '
	rev=$(commit v3 "ENV READY=never") &&
	test_must_fail push "$rev" >out 2>&1 &&
	cat out &&
	grep -q "^error: deploy of ${rev:0:12} failed" out &&
	grep -q "the switch to $T-web-${rev:0:12} failed; traffic stays on the old version" out &&
	grep -q "last 30 log lines of $T-web-${rev:0:12}" out &&
	grep -q "status 503" out &&
	test "$(serving)" = v2 &&
	test "$(running web)" = "$T-web-$(cut -c1-12 rev2)"
'

test_expect_success 'a failing build fails with its last lines; v2 still serves' '
	rev=$(commit v4 "COPY no-such-file /x") &&
	test_must_fail push "$rev" >out 2>&1 &&
	cat out &&
	grep -q "^error: the build of $T ${rev:0:12} failed: docker build exited with status 1; its last lines:" out &&
	grep -q "no-such-file" out &&
	test "$(serving)" = v2 &&
	test -z "$(h3 docker images -q berthd/$T:${rev:0:12})"
'

test_expect_success 'Procfile web and worker: the worker runs, and is not routed' '
	printf "web: /testapp\nworker: /testapp --port 8080\n" >"$REPO/Procfile" &&
	cat >"$REPO/app.json" <<-\JSON &&
	{"healthchecks": {"web": [{"path": "/up", "attempts": 8, "wait": 1, "uptime": 1}]},
	 "formation": {"worker": {"quantity": 1}}}
	JSON
	rev=$(commit v5) && echo "$rev" >rev5 &&
	push "$rev" >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(serving)" = v5 &&
	test "$(running worker)" = "$T-worker-${rev:0:12}" &&
	test "$(running web)" = "$T-web-${rev:0:12}" &&
	h3 docker exec berth-proxy berth-proxy list >routes &&
	cat routes &&
	grep -q "$T-web" routes && ! grep -q "$T-worker" routes
'

test_expect_success 'app.json predeploy runs before the switch, postdeploy after' '
	cat >"$REPO/app.json" <<-\JSON &&
	{"healthchecks": {"web": [{"path": "/up", "attempts": 8, "wait": 1, "uptime": 1}]},
	 "formation": {"worker": {"quantity": 1}},
	 "scripts": {"dokku": {"predeploy": "/testapp --exit 0 --print-env PORT",
	   "postdeploy": "/testapp --exit 0 --print-env APP_VERSION"}}}
	JSON
	rev=$(commit v6) &&
	push "$rev" >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "^-----> Running predeploy (/testapp --exit 0 --print-env PORT)" out &&
	grep -q "^       PORT=5000" out &&
	grep -q "^       APP_VERSION=v6" out &&
	# predeploy before the deploy, postdeploy after
	line_of() { grep -n -m1 -- "$1" out | cut -d: -f1; } &&
	test "$(line_of "^       PORT=5000")" -lt "$(line_of "^=====> Deploying")" &&
	test "$(line_of "^       APP_VERSION=v6")" -gt "$(line_of "traffic moved")" &&
	test "$(serving)" = v6
'

test_expect_success 'a failing predeploy stops the release: nothing switched' '
	sed -i "s|--exit 0 --print-env PORT|--exit 3 --print-env PORT|" "$REPO/app.json" &&
	rev=$(commit v7) &&
	test_must_fail push "$rev" >out 2>&1 &&
	cat out &&
	grep -q "^error: predeploy failed" out &&
	! grep -q "=====> Deploying" out &&
	test "$(serving)" = v6
'

test_expect_success 'rollback to v1' '
	v=$(cut -c1-12 rev1) &&
	driver rollback "$T" "$v" "$STATE" -d "$T.test" -e "SECRET_X=$SECRET_VALUE" >out 2>&1 ||
		{ cat out; exit 1; }
	cat out &&
	grep -q "^=====> Rolling back $T $v" out &&
	test "$(serving)" = v1 &&
	test "$(running web)" = "$T-web-$v"
'

test_expect_success 'git push: the pre-receive hook builds and deploys the quarantined revision' '
	git init -q --bare "$TEST_TMP/app.git" &&
	cat >"$TEST_TMP/app.git/hooks/pre-receive" <<-EOF &&
	#!/bin/sh
	while read -r old new ref; do
		PATH="$BB" "$DRIVER" push "$T" "\$PWD" "\$new" "$STATE" -d "$T.test" || exit 1
	done
	EOF
	chmod +x "$TEST_TMP/app.git/hooks/pre-receive" &&
	sed -i "s|--exit 3 --print-env PORT|--exit 0 --print-env PORT|" "$REPO/app.json" &&
	rev=$(commit v8) &&
	h3 git -C "$REPO" push -q "$TEST_TMP/app.git" HEAD:refs/heads/main >out 2>&1 ||
		{ cat out; exit 1; }
	cat out &&
	grep -q "^remote: -----> Building $T from Dockerfile" out &&
	grep -q "^remote: =====> Application deployed: $T ${rev:0:12}" out &&
	test "$(serving)" = v8 &&
	test "$(git --git-dir "$TEST_TMP/app.git" rev-parse main)" = "$rev"
'

test_expect_success 'a push with a bad Procfile is refused, naming the line; main stays' '
	printf "web: /testapp\nweb: /testapp --port 1\n" >"$REPO/Procfile" &&
	rev=$(commit v9) &&
	test_must_fail h3 git -C "$REPO" push -q "$TEST_TMP/app.git" HEAD:refs/heads/main >out 2>&1 &&
	cat out &&
	grep -q "^remote: error: Procfile:2: process type .web. is defined twice" out &&
	test "$(git --git-dir "$TEST_TMP/app.git" rev-parse main)" != "$rev" &&
	test "$(serving)" = v8
'

test_done
