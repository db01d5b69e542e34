#!/usr/bin/env bash
# asset_path (Kamal's asset bridging) on lab-h1: two proxied roles, each with
# its own asset_path, deployed v1, v2, rolled back to v1 and deployed v3.
# While the old and the new version both serve, each finds the other's
# fingerprinted assets; a file both have keeps each version's own text; the
# directories of versions no longer running leave the host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

ASSETS=$RUN_DIR/apps/$T/assets

# asset_version V [DELAY]: the image $T:V, busybox's httpd serving /app/public
# (after DELAY seconds): /up, / ("testapp version=V"), /assets/app-V.css (only V
# has it), /assets/common.txt (every version, its own text) and the admin
# role's /admin/admin-V.js. FROM the test app's image, which the lab has.
asset_version() {
	local v=$1 d=$TEST_TMP/img-$1
	mkdir -p "$d/public/assets" "$d/public/admin"
	cp "$(command -v busybox)" "$d/busybox"
	echo ok >"$d/public/up"
	echo "testapp version=$v host=h" >"$d/public/index.html"
	echo "app.css version=$v" >"$d/public/assets/app-$v.css"
	echo "common version=$v" >"$d/public/assets/common.txt"
	echo "admin.js version=$v" >"$d/public/admin/admin-$v.js"
	cat >"$d/Dockerfile" <<-EOF
		FROM berth-testapp:latest
		LABEL berth-e2e-test=$T
		COPY busybox /bin/busybox
		RUN ["/bin/busybox", "--install", "-s", "/bin"]
		COPY public /app/public
		ENTRYPOINT ["/bin/sh", "-c", "sleep ${2:-0} && exec httpd -f -p 80 -h /app/public"]
	EOF
	docker build -q -t "$T:$v" "$d" >/dev/null 2>&1
	test_cleanup "docker rmi -f $T:$v"
}
asset_version v1
asset_version v2 2
asset_version v3

# write_assets_config ADMIN_ASSET_PATH: web takes the root's asset_path, admin its own.
write_assets_config() {
	cat >"$APP/config/deploy.yml" <<-YML
		service: $T
		image: $T
		builder:
		  arch: amd64
		servers:
		  web:
		    hosts: [$h1]
		    options:
		      init: true
		  admin:
		    hosts: [$h1]
		    options:
		      init: true
		    proxy:
		      host: admin.$T.test
		    asset_path: "$1"
		proxy:
		  host: $T.test
		  app_port: 80
		  healthcheck:
		    path: /up
		    interval: 1
		asset_path: /app/public/assets
		deploy_timeout: 15
		drain_timeout: 1
		retain_containers: 3
		run_directory: $RUN_DIR
		ssh:
		  config: $LAB_SSH_CONFIG
	YML
}
# admin has none at first: it gets one (read-only) from v2 on, as an app that adopts asset_path
write_assets_config ""
test_cleanup "on $h1 'docker exec berth-proxy berth-proxy remove $T-admin; docker rm -f $T-web_assets $T-admin_assets'"

# get PATH [HOST]: "BODY|CODE" of PATH on lab-h1 through berth-proxy, the body's newlines dropped.
get() {
	local b
	b=$(curl -s --max-time 5 -w '|%{http_code}' -H "Host: ${2:-$T.test}" "http://$(addr_of $h1)$1")
	printf '%s\n' "${b//$'\n'/}"
}

# fetch_loop OUT PATH...: fetches the paths (one curl, keep-alive) until $TEST_TMP/stop exists
# (60 s at most), appending "body" and "|code" lines to OUT.
fetch_loop() {
	local out=$1 end=$((SECONDS + 60)) p urls=()
	shift
	for p; do urls+=("http://$(addr_of $h1)$p"); done
	while [[ ! -e $TEST_TMP/stop ]] && ((SECONDS < end)); do
		curl -s --max-time 10 -w '|%{http_code}\n' -H "$HOST_H" "${urls[@]}" >>"$out" 2>/dev/null ||
			echo "curl-failed $?" >>"$out"
	done
}

# dirs ROLE: the versions of ROLE's extracted files and volumes on lab-h1.
dirs() {
	on $h1 "cd $ASSETS/$1 && echo extracted \$(ls extracted) volumes \$(ls volumes)"
}

# mounts NAME...: "SOURCE:DESTINATION:RW " of each container's mounts, a line each.
mounts() {
	on $h1 "docker inspect --format '{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}} {{end}}' $*"
}

test_expect_success 'setup: a role with asset_path mounts its version directory there' '
	berth setup --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "^$h1 web: 2 asset file(s) of v1 in place (" out &&
	! grep -q "^$h1 admin: .*asset" out &&
	grep -qE "^assets +1 " out &&
	test "$(get /assets/app-v1.css)" = "app.css version=v1|200" &&
	test "$(get /admin/admin-v1.js admin.$T.test)" = "admin.js version=v1|200" &&
	test "$(dirs web)" = "extracted v1 volumes v1" &&
	! on $h1 test -e $ASSETS/admin &&
	mounts $T-web-v1 $T-admin-v1 >mounts &&
	cat mounts &&
	test "$(sed -n 1p mounts)" = "$ASSETS/web/volumes/v1:/app/public/assets:true " &&
	test -z "$(sed -n 2p mounts)"
'

write_assets_config /app/public/admin:ro

test_expect_success 'deploy v2: v1 serves v2 assets before the switch, v2 serves v1 ones after it' '
	rm -f stop
	fetch_loop load-v1 /assets/app-v1.css /assets/app-v1.css &
	(set +e; berth deploy --version v2 -P >out 2>&1; echo $? >rc) &
	# v2 waits 2 s before it serves: v1 still serves when its mount has v2 assets
	i=0
	until on $h1 docker exec $T-web-v1 cat /app/public/assets/app-v2.css >old-sees 2>/dev/null; do
		i=$((i + 1)); test $i -lt 150 || { touch stop; wait; cat out; exit 1; }; sleep 0.1
	done
	serving $h1 >old-serves
	on $h1 docker exec $T-web-v1 cat /app/public/assets/common.txt >old-common
	fetch_loop load-v2 /assets/app-v2.css /assets/app-v2.css &
	until test -e rc; do sleep 0.1; done
	sleep 0.3
	touch stop && wait &&
	cat out && test "$(cat rc)" = 0 &&
	test "$(cat old-sees)" = "app.css version=v2" &&
	test "$(cat old-serves)" = v1 &&
	test "$(cat old-common)" = "common version=v1" &&
	check_load load-v1 v1 && check_load load-v2 v2 &&
	test "$(serving $h1)" = v2 &&
	test "$(get /assets/app-v1.css)" = "app.css version=v1|200" &&
	test "$(get /assets/app-v2.css)" = "app.css version=v2|200" &&
	test "$(get /assets/common.txt)" = "common version=v2|200" &&
	grep -q "^$h1 web: 2 asset file(s) of v2 in place, shared with v1 (" out &&
	# admin v1 mounted nothing: its files come out of its running container, and its own
	# role directory and read-only mount are new
	grep -q "^$h1 admin: 1 asset file(s) of v2 in place, shared with v1 (" out &&
	test "$(get /admin/admin-v1.js admin.$T.test)" = "admin.js version=v1|200" &&
	test "$(get /admin/admin-v2.js admin.$T.test)" = "admin.js version=v2|200" &&
	test "$(mounts $T-admin-v2)" = "$ASSETS/admin/volumes/v2:/app/public/admin:false " &&
	grep -q "^$h1 web: the assets of 1 old version(s) removed" out &&
	grep -qE "^assets-cleanup +2 " out &&
	test "$(dirs web)" = "extracted v2 volumes v2" &&
	test "$(dirs admin)" = "extracted v2 volumes v2"
'

test_expect_success 'rollback to v1: its directory comes back, it serves both versions assets' '
	berth rollback v1 >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(serving $h1)" = v1 &&
	test "$(get /assets/app-v1.css)" = "app.css version=v1|200" &&
	test "$(get /assets/app-v2.css)" = "app.css version=v2|200" &&
	test "$(get /assets/common.txt)" = "common version=v1|200" &&
	grep -q "^$h1 web: 2 asset file(s) of v1 in place, shared with v2 (" out &&
	test "$(dirs web)" = "extracted v1 volumes v1"
'

test_expect_success 'a third deploy: v1 files served by v3, and v1 directories gone from the host' '
	berth deploy --version v3 -P >out 2>&1 || { cat out; exit 1; }
	cat out &&
	test "$(serving $h1)" = v3 &&
	test "$(get /assets/app-v1.css)" = "app.css version=v1|200" &&
	test "$(get /assets/app-v3.css)" = "app.css version=v3|200" &&
	test "$(dirs web)" = "extracted v3 volumes v3" &&
	test "$(dirs admin)" = "extracted v3 volumes v3" &&
	! on $h1 test -e $ASSETS/web/volumes/v1
'

test_expect_success 'an asset_path the image lacks stops the deploy before anything boots' '
	sed -i "s|^asset_path: .*|asset_path: /app/public/nothing|" "$APP/config/deploy.yml" &&
	test_must_fail berth deploy --version v2 -P >out 2>&1 &&
	cat out &&
	grep -q "^$h1 web: the assets of v2 were not put in place; nothing was switched" out &&
	grep -q "/app/public/nothing" out &&
	! grep -q "started $T-web-v2" out &&
	test "$(serving $h1)" = v3 &&
	test "$(running $h1 web)" = "$T-web-v3" &&
	write_assets_config /app/public/admin:ro
'

test_expect_success 'prune: the assets of versions with no container go, unless young' '
	on $h1 "mkdir -p $ASSETS/web/extracted/v0 $ASSETS/web/volumes/v0 $ASSETS/web/volumes/v9 &&
		touch -d \"2 hours ago\" $ASSETS/web/extracted/v0 $ASSETS/web/volumes/v0" &&
	berth prune containers >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "removed v0" out &&
	test "$(dirs web)" = "extracted v3 volumes v3 v9" &&
	test "$(serving $h1)" = v3 &&
	test "$(get /assets/app-v3.css)" = "app.css version=v3|200"
'

test_done
