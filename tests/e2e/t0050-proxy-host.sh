#!/usr/bin/env bash
# berth-proxy on the servers: make image, then berth proxy boot, reboot,
# stop, start, details, logs and remove on two lab hosts.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
h1=${hosts[0]} h2=${hosts[1]}
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0
VERSION=$(cat "$TOP/VERSION")
IMAGE=berth-proxy:$VERSION
addr1=$LAB_H1_ADDR addr2=$LAB_H2_ADDR
# on HOST CMD...: runs CMD on the host, each argument quoted for its shell.
on() { local h=$1; shift; ssh -F "$LAB_SSH_CONFIG" "$h" "$(printf '%q ' "$@")"; }
# on_sh HOST SCRIPT: runs a shell script on the host.
on_sh() { ssh -F "$LAB_SSH_CONFIG" "$1" "$2"; }
# The layer cache of lab host N (next to its dockerd's data root).
cache_of() { echo "$(dirname "$(eval echo "\$LAB_H${1#lab-h}_DATA_ROOT")")/berth/layers"; }

# get URL [ARGS...]: the response (headers and body) once the proxy answers
# at all; the container needs a moment after `docker run -d` to listen.
get() {
	local i
	for ((i = 0; i < 100; i++)); do
		if curl -s -i --max-time 5 "$@"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
# get_ok URL [ARGS...]: waits for a 200 (a restored route may still be checking health).
get_ok() {
	local i out
	for ((i = 0; i < 100; i++)); do
		out=$(curl -s -i --max-time 5 "$@") || out=
		if [[ $out == "HTTP/1.1 200"* ]]; then
			printf '%s\n' "$out"
			return 0
		fi
		sleep 0.1
	done
	echo "no 200 from $1; last answer: $out"
	return 1
}
# elapsed CMD...: runs CMD and prints how long it took, as a note.
elapsed() {
	local t0 t1 rc
	t0=$(date +%s%N)
	"$@"
	rc=$?
	t1=$(date +%s%N)
	echo "# took $(((t1 - t0) / 1000000)) ms: $*" >>"$TEST_TMP/timings"
	return $rc
}

for h in "$h1" "$h2"; do
	test_cleanup "on_sh $h 'docker rm -f berth-proxy berth-proxy-ports $T-app; docker volume rm berth-proxy; docker rmi -f $IMAGE; docker network rm berth'"
done

mkdir -p "$TEST_TMP/proj/config" "$TEST_TMP/bad/config"
cat >"$TEST_TMP/proj/config/deploy.yml" <<YML
service: $T
image: $T/app
builder:
  arch: amd64
servers:
  - $h1
  - $h2
ssh:
  config: $LAB_SSH_CONFIG
YML
cat >"$TEST_TMP/bad/config/deploy.yml" <<YML
service: $T
image: $T/app
builder:
  arch: amd64
servers:
  - $h2
  - 127.0.0.1:1
ssh:
  config: $LAB_SSH_CONFIG
YML
cd "$TEST_TMP/proj" || exit 1

test_expect_success 'make image builds the image, labelled, and then does nothing' '
	make -s -C "$TOP" image &&
	test "$(docker image inspect --format "{{index .Config.Labels \"berth.proxy\"}}" "$IMAGE")" = 1 &&
	make -s -C "$TOP" image >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$IMAGE is up to date$" &&
	docker run --rm "$IMAGE" berth-proxy --help >"$TEST_TMP/help" 2>&1 &&
	grep_q "$TEST_TMP/help" "^usage: berth-proxy"
'

test_expect_success 'the hosts start without berth-proxy, its image or its layer' '
	layers=$(docker image inspect --format "{{range .RootFS.Layers}}{{.}} {{end}}" "$IMAGE") &&
	for h in "$h1" "$h2"; do
		# A container still made from a proxy image, of this version or an older
		# one, left by another test, would keep the image on the host.
		on_sh "$h" "for i in 1 2; do
				docker ps -aq --filter label=berth.proxy=1 | xargs -r docker rm -f
			done
			docker ps -aq --filter ancestor=$IMAGE | xargs -r docker rm -f
			docker rm -f berth-proxy berth-proxy-ports; docker volume rm berth-proxy
			docker rmi -f $IMAGE
			docker images -q --filter label=berth.proxy=1 | xargs -r docker rmi -f" \
			>/dev/null 2>&1
		test -z "$(on "$h" docker images -q --filter "label=berth.proxy=1")" ||
			{ on "$h" docker images -a; exit 1; }
		for l in $layers; do rm -f "$(cache_of "$h")/${l#sha256:}.tar"; done
		test -z "$(on "$h" docker ps -aq --filter name=^berth-proxy\$)" ||
			{ on "$h" docker ps -a; exit 1; }
	done
'

test_expect_success 'boot sends the image and starts berth-proxy on both hosts' '
	elapsed "$BERTH" proxy boot >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	for h in "$h1" "$h2"; do
		grep_q "$TEST_TMP/out" "^$h: loaded $IMAGE: ([0-9]+) of \1 layers sent" &&
		grep_q "$TEST_TMP/out" "^$h: berth-proxy started \($IMAGE\)$" &&
		on "$h" docker ps --filter name=^berth-proxy\$ --format "{{.Image}} {{.Networks}}" \
			>"$TEST_TMP/ps" &&
		grep_q "$TEST_TMP/ps" "^$IMAGE berth$" &&
		on "$h" docker ps --filter name=^berth-proxy-ports\$ --format "{{.Image}} {{.Networks}}" \
			>"$TEST_TMP/ps" &&
		grep_q "$TEST_TMP/ps" "^$IMAGE host$" || exit 1
	done &&
	for a in "$addr1" "$addr2"; do
		get "http://$a:80/" -H "Host: $T.example" >"$TEST_TMP/resp" &&
		grep_q "$TEST_TMP/resp" "^HTTP/1.1 (404|503) " || exit 1
	done
'

test_expect_success 'boot again changes nothing' '
	before=$(on "$h1" docker inspect --format "{{.Id}} {{.State.StartedAt}}" berth-proxy) &&
	elapsed "$BERTH" proxy boot >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy is running \($IMAGE\)$" &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy is running \($IMAGE\)$" &&
	test "$(wc -l <"$TEST_TMP/out")" = 2 &&
	test "$(on "$h1" docker inspect --format "{{.Id}} {{.State.StartedAt}}" berth-proxy)" = "$before"
'

test_expect_success 'a route to an app on the network berth answers on port 80' '
	"$BERTH" build deliver berth-testapp:latest -h "$h1" --ssh-config "$LAB_SSH_CONFIG" >/dev/null &&
	on "$h1" docker run -d --name "$T-app" --network berth berth-testapp:latest --version v1 >/dev/null &&
	on "$h1" docker exec berth-proxy berth-proxy deploy "$T" --target "$T-app:80" \
		--host "$T.example" &&
	get_ok "http://$addr1:80/" -H "Host: $T.example" >"$TEST_TMP/resp" &&
	grep_q "$TEST_TMP/resp" "^X-App-Version: v1"
'

test_expect_success 'the route survives berth proxy reboot -y' '
	before=$(on "$h1" docker inspect --format "{{.Id}}" berth-proxy) &&
	elapsed "$BERTH" proxy reboot -y -h "$h1" >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy rebooted \($IMAGE\)$" &&
	! grep -q "^$h2:" "$TEST_TMP/out" &&
	test "$(on "$h1" docker inspect --format "{{.Id}}" berth-proxy)" != "$before" &&
	get_ok "http://$addr1:80/" -H "Host: $T.example" >"$TEST_TMP/resp" &&
	grep_q "$TEST_TMP/resp" "^X-App-Version: v1"
'

test_expect_success 'boot_config is kept on the host and wins over proxy.run; reset undoes it' '
	# the lab hosts share root'"'"'s home, where the file is: what one keeps, both do
	test_cleanup "on $h1 rm -f .berth/proxy/boot_config.json" &&
	"$BERTH" proxy boot_config set --log-max-size 20m -h "$h1" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: boot_config [{]\"log_max_size\":\"20m\"[}]$" &&
	! grep -q "^$h2" "$TEST_TMP/out" &&
	"$BERTH" proxy boot_config get >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: [{]\"log_max_size\":\"20m\"[}]$" &&
	grep_q "$TEST_TMP/out" "^$h2: " &&
	"$BERTH" proxy reboot -y -h "$h1" >"$TEST_TMP/out" &&
	on "$h1" docker inspect --format "{{.HostConfig.LogConfig.Config}}" berth-proxy | grep -q "max-size:20m" &&
	get_ok "http://$addr1:80/" -H "Host: $T.example" >"$TEST_TMP/resp" &&
	"$BERTH" proxy boot_config reset -h "$h1" >"$TEST_TMP/out" &&
	"$BERTH" proxy boot_config get -h "$h1" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: none" &&
	"$BERTH" proxy reboot -y -h "$h1" >"$TEST_TMP/out" &&
	on "$h1" docker inspect --format "{{.HostConfig.LogConfig.Config}}" berth-proxy | grep -q "max-size:10m" &&
	test_must_fail "$BERTH" proxy boot_config nope 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "not a boot_config command"
'

test_expect_success 'reboot without -y and without a terminal to ask on does nothing' '
	before=$(on "$h1" docker inspect --format "{{.Id}}" berth-proxy) &&
	test_must_fail "$BERTH" proxy reboot -h "$h1" </dev/null 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "Are you sure\?.*-y" &&
	test "$(on "$h1" docker inspect --format "{{.Id}}" berth-proxy)" = "$before"
'

test_expect_success 'stop and start, and boot starts a stopped proxy' '
	"$BERTH" proxy stop >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy stopped$" &&
	test_must_fail curl -s --max-time 5 "http://$addr1:80/" &&
	"$BERTH" proxy details >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy $IMAGE Exited " &&
	"$BERTH" proxy start -h "$h1" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy started$" &&
	get_ok "http://$addr1:80/" -H "Host: $T.example" >"$TEST_TMP/resp" &&
	grep_q "$TEST_TMP/resp" "^X-App-Version: v1" &&
	"$BERTH" proxy boot >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy was stopped; started it again$" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy is running" &&
	"$BERTH" proxy details >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy $IMAGE Up " &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy-ports $IMAGE Up "
'

test_expect_success 'restart stops and starts' '
	"$BERTH" proxy restart -h "$h2" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy stopped$" &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy started$"
'

test_expect_success 'logs show the proxy'"'"'s lines, per host, with -n, -g and -T' '
	"$BERTH" proxy logs -h "$h1" >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: [0-9T:.-]+Z berth-proxy listening on port 80" &&
	"$BERTH" proxy logs -T -g "listening on" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy listening on port 80" &&
	! grep -v "listening on" "$TEST_TMP/out" &&
	"$BERTH" proxy logs -T -n 1 -h "$h1" >"$TEST_TMP/out" &&
	test "$(wc -l <"$TEST_TMP/out")" = 1 &&
	"$BERTH" proxy logs -T -g "no such line here" >"$TEST_TMP/out" &&
	test ! -s "$TEST_TMP/out"
'

test_expect_success 'logs -f follows, and the follower on the host ends with berth' '
	test_must_fail timeout 3 "$BERTH" proxy logs -f -T -n 7 -g "listening" -h "$h1" \
		>"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy listening on port 80" &&
	! grep -v "listening" "$TEST_TMP/out" &&
	for i in $(seq 100); do
		on "$h1" pgrep -f "docker logs --tail 7 --follow berth-proxy" >/dev/null || break
		sleep 0.1
	done &&
	test_must_fail on "$h1" pgrep -f "docker logs --tail 7 --follow berth-proxy"
'

test_expect_success 'a host whose tag points elsewhere gets the image tagged again' '
	on "$h2" docker commit berth-proxy "$IMAGE" >/dev/null &&
	"$BERTH" proxy boot -h "$h2" >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h2: image present, nothing to send \(tagged it\)$" &&
	test "$(on "$h2" docker image inspect --format "{{.Id}}" "$IMAGE")" = \
		"$(docker image inspect --format "{{.Id}}" "$IMAGE")"
'

test_expect_success 'an unreachable host fails alone' '
	cd "$TEST_TMP/bad" &&
	test_must_fail "$BERTH" proxy boot >"$TEST_TMP/out" 2>"$TEST_TMP/err" &&
	cat "$TEST_TMP/out" "$TEST_TMP/err" &&
	grep_q "$TEST_TMP/out" "^$h2: berth-proxy is running" &&
	grep_q "$TEST_TMP/err" "host .127\.0\.0\.1:1.: cannot connect over ssh"
'

test_expect_success 'remove takes the container and image; --volume the routes too' '
	# (--force: a route of another test run on the shared lab would stop it)
	"$BERTH" proxy remove --force -h "$h2" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h2: removed the berth-proxy container, removed the ports container .berth-proxy-ports., removed its images$" &&
	test -z "$(on "$h2" docker ps -aq --filter name=^berth-proxy\$)" &&
	test -z "$(on "$h2" docker ps -aq --filter name=^berth-proxy-ports\$)" &&
	test_must_fail on "$h2" docker image inspect "$IMAGE" >/dev/null 2>&1 &&
	on "$h2" docker volume inspect berth-proxy >/dev/null &&
	# the route of $T is on lab-h1: refused, naming it, unless --force
	test_must_fail "$BERTH" proxy remove --volume >"$TEST_TMP/out" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "not removing berth-proxy: apps still use it \(([^)]*; )?$h1: ([^)]*, )?$T[,;)].*; .berth remove. them first, or --force" &&
	test "$(on "$h1" docker inspect --format "{{.State.Running}}" berth-proxy)" = true &&
	# stopped, the proxy still tells from the routes it saved
	on "$h1" docker stop berth-proxy >/dev/null &&
	test_must_fail "$BERTH" proxy remove -h "$h1" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "apps still use it \($h1: ([^)]*, )?$T[,)]" &&
	"$BERTH" proxy remove --volume --force >"$TEST_TMP/out" 2>"$TEST_TMP/err" &&
	cat "$TEST_TMP/out" "$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "removing berth-proxy with --force, though apps still use it \(([^)]*; )?$h1: ([^)]*, )?$T[,;)]" &&
	grep_q "$TEST_TMP/out" "^$h2: no berth-proxy container, removed its images, removed the volume .berth-proxy.$" &&
	grep_q "$TEST_TMP/out" "^$h1: removed the berth-proxy container, removed the ports container .berth-proxy-ports., removed its images, removed the volume .berth-proxy.$" &&
	test -z "$(on "$h1" docker ps -aq --filter name=^berth-proxy)" &&
	test_must_fail on "$h1" docker volume inspect berth-proxy >/dev/null 2>&1 &&
	"$BERTH" proxy details >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: no berth-proxy container$"
'

test_expect_success 'boot on hosts that have the layer cached only loads it' '
	elapsed "$BERTH" proxy boot >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^$h1: loaded $IMAGE: 0 of [0-9]+ layers sent" &&
	grep_q "$TEST_TMP/out" "^$h1: berth-proxy started" &&
	get "http://$addr2:80/" >/dev/null
'

cat "$TEST_TMP/timings" 2>/dev/null
test_done
