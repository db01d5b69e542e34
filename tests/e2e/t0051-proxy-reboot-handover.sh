#!/usr/bin/env bash
# berth proxy reboot on a lab host under load: berth-proxy-ports, on the
# host's network, holds the ports (berth-proxy hold) and the proxy container
# takes the listening sockets from it; a new proxy container, from a new
# image, takes them from the running one, and not one request fails. After
# dockerd restarts, both containers come back in whatever order, and serve.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
h=${hosts[2]}
addr=$LAB_H3_ADDR
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0
VERSION=$(cat "$TOP/VERSION")
IMAGE=berth-proxy:$VERSION
NEXT=berth-proxy-next:$T
# on_sh HOST SCRIPT: runs a shell script on the host.
on_sh() { ssh -F "$LAB_SSH_CONFIG" "$1" "$2"; }

test_cleanup "docker rmi -f $NEXT"
test_cleanup "on_sh $h 'docker rm -f berth-proxy berth-proxy-old berth-proxy-ports $T-app $T-app2; docker volume rm berth-proxy; docker rmi -f $NEXT'"

# A project per proxy image: the one `make image` builds, and the next one.
mkdir -p "$TEST_TMP/one/config" "$TEST_TMP/next/config"
cat >"$TEST_TMP/one/config/deploy.yml" <<YML
service: $T
image: $T/app
builder:
  arch: amd64
servers:
  - $h
ssh:
  config: $LAB_SSH_CONFIG
YML
cat "$TEST_TMP/one/config/deploy.yml" - >"$TEST_TMP/next/config/deploy.yml" <<YML
proxy:
  run:
    repository: berth-proxy-next
    version: $T
YML

# Test bodies write their files here.
cd "$TEST_TMP" || exit 1

# load OUT: requests to the host until $TEST_TMP/stop exists (at most 2000), each line
# "|CODE" or "curl-failed N"; every other one on a new connection, the rest in pairs on one.
load() {
	local i rc
	for ((i = 0; i < 1000; i++)); do
		[[ -e $TEST_TMP/stop ]] && break
		curl -s --max-time 20 -o /dev/null -o /dev/null -w '|%{http_code}\n' -H "Host: $T.example" \
			"http://$addr:80/" "http://$addr:80/" >>"$1" 2>/dev/null
		rc=$?
		((rc == 0)) || echo "curl-failed $rc" >>"$1"
	done
}

# ok_soon: waits (up to 30 s) for a 200 from the app through the proxy.
ok_soon() {
	local i
	for ((i = 0; i < 300; i++)); do
		test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: $T.example" "http://$addr:80/")" = 200 && return 0
		sleep 0.1
	done
	return 1
}

test_expect_success 'an older layout (the proxy publishing its ports) is replaced, not handed over' '
	make -s -C "$TOP" image >/dev/null &&
	printf "FROM %s\nLABEL berth.test=%s\n" "$IMAGE" "$T" | docker build -q -t "$NEXT" - >/dev/null &&
	cd "$TEST_TMP/one" &&
	on_sh "$h" "docker rm -f berth-proxy berth-proxy-old berth-proxy-ports" >/dev/null 2>&1
	"$BERTH" proxy boot >/dev/null &&
	on_sh "$h" "docker rm -f berth-proxy berth-proxy-ports && docker run -d --name berth-proxy --network berth --restart unless-stopped -p 80:80 -p 443:443 -v berth-proxy:/var/lib/berth-proxy $IMAGE berth-proxy run --http-port 80 --https-port 443 --state-dir /var/lib/berth-proxy" >/dev/null &&
	"$BERTH" proxy reboot -y >out &&
	cat out &&
	grep_q out "^$h: berth-proxy rebooted \($IMAGE\), replaced rather than handed over"
'

test_expect_success 'boot: the ports container holds the ports, the proxy takes them' '
	on_sh "$h" "docker inspect --format \"{{.HostConfig.NetworkMode}}\" berth-proxy-ports" >mode &&
	test "$(cat mode)" = host &&
	on_sh "$h" "docker inspect --format \"{{.HostConfig.NetworkMode}} {{len .HostConfig.PortBindings}}\" berth-proxy" >mode &&
	test "$(cat mode)" = "berth 0" &&
	on_sh "$h" "docker logs berth-proxy 2>&1" >log &&
	grep_q log "serving the listeners of the holder at ./var/lib/berth-proxy/listeners.sock." &&
	"$BERTH" build deliver berth-testapp:latest -h "$h" --ssh-config "$LAB_SSH_CONFIG" >/dev/null &&
	on_sh "$h" "docker rm -f $T-app; docker run -d --name $T-app --network berth berth-testapp:latest --version v1" >/dev/null &&
	on_sh "$h" "docker exec berth-proxy berth-proxy deploy $T --target $T-app:80 --host $T.example" &&
	ok_soon &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" | grep -q "version=v1" &&
	# IPv6 too, as Docker publishes ports
	on_sh "$h" "curl -sf -g -H \"Host: $T.example\" \"http://[::1]:80/\"" | grep -q "version=v1" &&
	(cd "$TEST_TMP/one" && "$BERTH" proxy details) >out &&
	cat out &&
	grep_q out "^$h: berth-proxy-ports $IMAGE Up" &&
	grep_q out "^$h: berth-proxy $IMAGE Up"
'

test_expect_success 'while no proxy runs, a connection waits for the next one' '
	on_sh "$h" "docker stop berth-proxy" >/dev/null &&
	(curl -s --max-time 30 -o /dev/null -w "%{http_code}" -H "Host: $T.example" "http://$addr:80/" >waited) &
	c=$!
	sleep 1 &&
	test ! -s waited &&
	on_sh "$h" "docker start berth-proxy" >/dev/null &&
	wait $c
	cat waited &&
	test "$(cat waited)" = 200
'

test_expect_success 'reboot to a new image under load fails no request' '
	cd "$TEST_TMP/next" &&
	"$BERTH" build deliver "$NEXT" -h "$h" --ssh-config "$LAB_SSH_CONFIG" >/dev/null &&
	rm -f "$TEST_TMP/stop"
	load load1 &
	l1=$!
	load load2 &
	l2=$!
	sleep 1 &&
	"$BERTH" proxy reboot -y >out &&
	cat out &&
	grep_q out "^$h: berth-proxy rebooted \($NEXT\)$" &&
	sleep 1 &&
	touch "$TEST_TMP/stop" &&
	wait $l1 $l2 &&
	cat load1 load2 | sort | uniq -c &&
	! grep -v "^|200$" load1 load2 &&
	test "$(cat load1 load2 | wc -l)" -gt 20 &&
	on_sh "$h" "docker ps -a --format \"{{.Names}} {{.Image}}\"" >ps &&
	cat ps &&
	grep_q ps "^berth-proxy $NEXT$" &&
	! grep -q "^berth-proxy-old " ps &&
	on_sh "$h" "docker logs berth-proxy 2>&1" >log &&
	grep_q log "took over the listeners" &&
	on_sh "$h" "docker exec berth-proxy berth-proxy list" >list &&
	grep_q list "^$T "
'

test_expect_success 'the routes and the control socket are the new container'"'"'s' '
	on_sh "$h" "docker rm -f $T-app2; docker run -d --name $T-app2 --network berth --restart unless-stopped berth-testapp:latest --version v2" >/dev/null &&
	test_cleanup "on_sh $h \"docker rm -f $T-app2\"" &&
	on_sh "$h" "docker exec berth-proxy berth-proxy deploy $T --target $T-app2:80 --host $T.example" &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" | grep -q "version=v2"
'

test_expect_success 'a restart of the new container starts it afresh, routes kept' '
	cd "$TEST_TMP/next" &&
	"$BERTH" proxy restart >out &&
	for i in $(seq 100); do
		test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: $T.example" "http://$addr:80/")" = 200 && break
		sleep 0.1
	done &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" | grep -q "version=v2"
'

test_expect_success 'a new container that cannot take over leaves the old one serving' '
	cd "$TEST_TMP" &&
	printf "int main(void) { return 1; }\n" >fail.c &&
	gcc -static -o fail fail.c &&
	mkdir -p broken &&
	cp fail broken/berth-proxy &&
	printf "FROM %s\nCOPY berth-proxy /usr/local/bin/berth-proxy\n" "$NEXT" >broken/Dockerfile &&
	docker build -q -t "berth-proxy-next:$T-broken" broken >/dev/null &&
	test_cleanup "docker rmi -f berth-proxy-next:$T-broken" &&
	"$BERTH" build deliver "berth-proxy-next:$T-broken" -h "$h" --ssh-config "$LAB_SSH_CONFIG" >/dev/null &&
	sed "s/version: $T\$/version: $T-broken/" "$TEST_TMP/next/config/deploy.yml" >broken.yml &&
	mkdir -p "$TEST_TMP/broken/config" &&
	cp broken.yml "$TEST_TMP/broken/config/deploy.yml" &&
	before=$(on_sh "$h" "docker inspect --format {{.Id}} berth-proxy") &&
	cd "$TEST_TMP/broken" &&
	rm -f "$TEST_TMP/stop"
	load load3 &
	l3=$!
	test_must_fail "$BERTH" proxy reboot -y >out 2>err
	rc=$?
	touch "$TEST_TMP/stop"
	wait $l3
	test $rc = 0 &&
	cat out err &&
	grep_q err "did not take over; the old one serves on" &&
	test "$(on_sh "$h" "docker inspect --format {{.Id}} berth-proxy")" = "$before" &&
	on_sh "$h" "docker inspect --format {{.HostConfig.RestartPolicy.Name}} berth-proxy" >policy &&
	grep_q policy "^unless-stopped$" &&
	! grep -v "^|200$" load3 &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" | grep -q "version=v2"
'

test_expect_success 'a route whose app is not up when the proxy starts is kept, and serves once it is' '
	on_sh "$h" "docker stop $T-app2 && docker restart berth-proxy" >/dev/null &&
	for i in $(seq 100); do
		on_sh "$h" "docker logs berth-proxy 2>&1" >log
		grep -q "kept, and tried again every second" log && break
		sleep 0.1
	done &&
	grep_q log "state: service .$T.: .*; kept, and tried again every second" &&
	on_sh "$h" "docker start $T-app2" >/dev/null &&
	ok_soon &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" | grep -q "version=v2" &&
	on_sh "$h" "docker logs berth-proxy 2>&1" >log &&
	grep_q log "service .$T. restored at last"
'

test_expect_success 'after dockerd restarts, both containers come back and serve' '
	pid=$(cat "$LAB_DIR/h3/docker.pid") &&
	kill "$pid" &&
	for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done &&
	test_must_fail kill -0 "$pid" 2>/dev/null &&
	"$TOP/tests/e2e/lab/lab" up >lab.out 2>&1 &&
	ok_soon &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" | grep -q "version=v2" &&
	on_sh "$h" "docker ps --format \"{{.Names}}\"" >ps &&
	grep_q ps "^berth-proxy$" && grep_q ps "^berth-proxy-ports$"
'

test_done
