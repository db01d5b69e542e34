#!/usr/bin/env bash
# berthd's container port and networks against berthd on lab host h1, set
# up by `berth server bootstrap --daemon`, as a Dokku user runs them over
# ssh: an image that EXPOSEs 3000 and listens on PORT is served with no port
# setting (PORT=3000, as Dokku); ports:set http:80:4000 moves it to 4000
# under load with zero failed requests; a network of network:create joined
# with network:set attach-post-deploy holds the app's web container after a
# redeploy, and another container on it reaches the app as APP.web;
# network:destroy refuses while the network is in use. Everything it made
# goes at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h1
ADDR=$(addr_of $H)
REPO=$TEST_TMP/repo
NET=$T-net
V=$(cat "$TOP/VERSION")

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() {
	ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"
}
push() {
	(cd "$REPO" && GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/admin -o IdentitiesOnly=yes" \
		git push "$@" "berth@$H:$T" main) >push.out 2>&1
}
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
web_container() { on $H docker ps -q --filter label=service=$T --filter label=role=web | head -n 1; }
# web_env NAME: NAME=VALUE in the running web container's environment
web_env() { on $H docker inspect "$(web_container)" | jq -r '.[0].Config.Env[]' | grep "^$1="; }
# networks_of CONTAINER: the networks it is on, one a line
networks_of() { on $H docker inspect "$1" | jq -r '.[0].NetworkSettings.Networks | keys[]'; }

write_config
mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"
# the test app listens on PORT; the image says it listens on 3000
printf 'FROM scratch\nCOPY testapp /testapp\nENV APP_VERSION=v1\nEXPOSE 3000\nCMD ["/testapp"]\n' >"$REPO/Dockerfile"
(cd "$REPO" && git add -A && git commit -qm v1)

test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T) \$(docker ps -aq --filter label=berthd.run=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker network rm $NET; docker exec berthd berthd ssh-keys:remove admin-$T'"

test_expect_success 'an image that EXPOSEs 3000 serves with no port setting, PORT=3000' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd apps:create $T &&
	bd domains:add $T $T.test >/dev/null &&
	{ push || { cat push.out; exit 1; }; } &&
	test "$(served)" = v1 &&
	test "$(web_env PORT)" = PORT=3000 &&
	bd ports:report $T --format json >rep.json && cat rep.json &&
	test "$(jq -r ".\"ports-map\", .\"ports-map-detected\", .\"container-port\"" rep.json | tr "\n" " ")" = " http:80:3000 3000 " &&
	bd ports:list $T >list.out && grep -q "^    http  *80  *3000$" list.out
'

test_expect_success 'ports:set http:80:4000 moves it under load, zero failed requests' '
	rm -f "$TEST_TMP/stop" load.out
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ bd ports:set $T http:80:4000 >set.out 2>&1 || { cat set.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	cat set.out &&
	check_load load.out v1 &&
	test "$(served)" = v1 &&
	test "$(web_env PORT)" = PORT=4000 &&
	bd ports:report $T >rep.out && grep -q "Container port: *4000$" rep.out
'

test_expect_success 'bad mappings change nothing and deploy nothing' '
	c=$(web_container) &&
	test_must_fail bd ports:set $T http:8080:4000 2>err &&
	grep -q "berth-proxy serves ports 80 (http) and 443 (https) only" err &&
	test_must_fail bd ports:add $T https:443:5000 2>err &&
	grep -q "one container port" err &&
	test "$(web_container)" = "$c" &&
	test "$(served)" = v1
'

test_expect_success 'network:create; attach-post-deploy puts the web container on it at the next deploy' '
	bd network:create $NET >/dev/null &&
	bd network:exists $NET &&
	bd network:list --format json | jq -e "index(\"$NET\") != null" &&
	test "$(on $H docker network inspect $NET | jq -r ".[0].Labels[\"berthd.network\"]")" = 1 &&
	bd network:set $T attach-post-deploy $NET >set.out && cat set.out &&
	grep -q "takes effect at the next deploy" set.out &&
	{ bd ps:restart $T >restart.out 2>&1 || { cat restart.out; exit 1; }; } &&
	cat restart.out &&
	test "$(served)" = v1 &&
	c=$(web_container) &&
	networks_of "$c" >nets &&
	cat nets && grep -qx "$NET" nets && grep -qx berth nets &&
	bd network:report $T --format json | jq -e ".\"network-attach-post-deploy\" == \"$NET\""
'

# The client is berthd's image: its static busybox resolves with nslookup (its own
# resolver, asking Docker's DNS) but its wget crashes in static glibc's NSS, so the
# name is looked up, then the app is asked over nc at that address.
test_expect_success 'another container on the network reaches the app as APP.web' '
	on $H docker run --rm --network $NET --entrypoint /bin/busybox berthd:$V \
		nslookup $T.web >ns.out 2>&1 || { cat ns.out; exit 1; }
	cat ns.out &&
	ip=$(sed -n "s/^Address: *\([0-9.]*\)$/\1/p" ns.out | head -n 1) &&
	want=$(on $H docker inspect "$(web_container)" | jq -r ".[0].NetworkSettings.Networks[\"$NET\"].IPAddress") &&
	echo "$T.web is $ip, the web container $want" &&
	test -n "$ip" && test "$ip" = "$want" &&
	printf "GET / HTTP/1.0\r\nHost: $T.web\r\n\r\n" |
		on $H docker run -i --rm --network $NET --entrypoint /bin/busybox berthd:$V \
			nc -w 5 "$ip" 4000 >got &&
	cat got && grep -q "^testapp version=v1 " got
'

test_expect_success 'a push of a new release joins the network too' '
	sed -i "s/APP_VERSION=v1/APP_VERSION=v2/" "$REPO/Dockerfile" &&
	(cd "$REPO" && git commit -qam v2) &&
	{ push || { cat push.out; exit 1; }; } &&
	test "$(served)" = v2 &&
	networks_of "$(web_container)" >nets &&
	grep -qx "$NET" nets
'

test_expect_success 'network:destroy refuses while in use; what berth cannot honour is refused' '
	test_must_fail bd network:destroy $NET --force 2>err && cat err &&
	grep -q "in use: $T attaches to it" err &&
	bd network:set $T attach-post-deploy >/dev/null &&
	test_must_fail bd network:destroy $NET --force 2>err && cat err &&
	grep -q "in use: .* container(s) are on it" err &&
	test_must_fail bd network:destroy bridge --force 2>err &&
	grep -q "not one of berthd" err &&
	test_must_fail bd network:set $T attach-post-create $NET 2>err &&
	grep -q "use attach-post-deploy" err &&
	on $H docker network inspect $NET >/dev/null
'

test_expect_success 'apps:destroy, then the network goes; nothing is left' '
	bd apps:destroy $T --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter label=service=$T)" &&
	bd network:destroy $NET --force >/dev/null &&
	test_must_fail bd network:exists $NET 2>/dev/null &&
	! on $H docker network inspect $NET >/dev/null 2>&1 &&
	test -z "$(on $H docker images -q berthd/$T)"
'

test_done
