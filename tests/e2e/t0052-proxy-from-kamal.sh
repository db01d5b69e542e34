#!/usr/bin/env bash
# berth proxy boot on a host where kamal-proxy holds ports 80 and 443: its
# routes are read from its state file into berth-proxy's, berth-proxy starts
# beside it (on kamal's network too) and checks them, then kamal-proxy stops
# and the ports move to berth-proxy-ports. The stand-in for kamal-proxy is a
# container named kamal-proxy that serves on those ports and keeps its
# routes where kamal-proxy does, in kamal-proxy's format.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
h=${hosts[2]}
addr=$LAB_H3_ADDR
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0
VERSION=$(cat "$TOP/VERSION")
IMAGE=berth-proxy:$VERSION
on_sh() { ssh -F "$LAB_SSH_CONFIG" "$1" "$2"; }
cd "$TEST_TMP" || exit 1

test_cleanup "on_sh $h 'docker rm -f berth-proxy berth-proxy-ports kamal-proxy $T-web; docker volume rm berth-proxy kamal-proxy-config; docker network rm kamal'"

mkdir -p "$TEST_TMP/p/config"
cat >"$TEST_TMP/p/config/deploy.yml" <<YML
service: $T
image: $T/app
builder:
  arch: amd64
servers:
  - $h
ssh:
  config: $LAB_SSH_CONFIG
YML
# kamal-proxy's state, as it saves it: durations in nanoseconds
cat >state.json <<JSON
[{"name":"$T-web","options":{"hosts":["$T.example"],"path_prefixes":[],"tls_enabled":false,
"tls_certificate_path":"","tls_private_key_path":"","tls_redirect":false,"canonical_host":"",
"strip_prefix":true,"writer_affinity_timeout":3000000000,"read_targets_accept_websockets":false,
"exclude_metrics_paths":null,"client_ip_header":""},"target_options":{"health_check_config":
{"path":"/up","port":0,"interval":1000000000,"timeout":5000000000,"host":""},
"response_timeout":30000000000,"buffer_requests":false,"buffer_responses":false,
"max_memory_buffer_size":1000000,"max_request_body_size":0,"max_response_body_size":0,
"log_request_headers":null,"log_response_headers":null,"forward_headers":true,
"scope_cookie_paths":false},"active_targets":["$T-web:80"],"active_readers":[],
"rollout_targets":[],"rollout_readers":[],"pause_controller":{"state":0,"stop_message":"",
"fail_after":30000000000},"rollout_controller":null}]
JSON

# load OUT: a request on a new connection each, until $TEST_TMP/stop exists: "|CODE" or "failed N"
load() {
	local i rc
	for ((i = 0; i < 3000; i++)); do
		[[ -e $TEST_TMP/stop ]] && break
		curl -s --max-time 20 -o /dev/null -w '|%{http_code}\n' -H "Host: $T.example" \
			"http://$addr:80/" >>"$1" 2>/dev/null
		rc=$?
		((rc == 0)) || echo "failed $rc" >>"$1"
	done
}

test_expect_success 'setup: kamal-proxy (a stand-in) serves the app on ports 80 and 443' '
	make -s -C "$TOP" image >/dev/null &&
	on_sh "$h" "docker rm -f berth-proxy berth-proxy-ports berth-proxy-old kamal-proxy; docker volume rm berth-proxy" >/dev/null 2>&1 || true
	"$BERTH" build deliver berth-testapp:latest -h "$h" --ssh-config "$LAB_SSH_CONFIG" >/dev/null &&
	"$BERTH" build deliver "$IMAGE" -h "$h" --ssh-config "$LAB_SSH_CONFIG" >/dev/null &&
	on_sh "$h" "docker network create kamal >/dev/null 2>&1; docker run -d --name $T-web --network kamal --restart unless-stopped berth-testapp:latest --version k1" >/dev/null &&
	on_sh "$h" "docker run -d --name kamal-proxy --network kamal --restart unless-stopped -p 80:80 -p 443:443 -v kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy $IMAGE berth-proxy run --http-port 80 --target $T-web:80" >/dev/null &&
	on_sh "$h" "cat >/tmp/$T.state" <state.json &&
	on_sh "$h" "docker cp /tmp/$T.state kamal-proxy:/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state && rm /tmp/$T.state" &&
	for i in $(seq 100); do
		curl -s -H "Host: $T.example" "http://$addr:80/" | grep -q "version=k1" && break
		sleep 0.1
	done &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" | grep -q "version=k1"
'

test_expect_success 'proxy boot takes the routes and the ports over, under load' '
	cd "$TEST_TMP/p" &&
	rm -f "$TEST_TMP/stop"
	load "$TEST_TMP/load1" &
	l1=$!
	load "$TEST_TMP/load2" &
	l2=$!
	sleep 1 &&
	rc=0
	"$BERTH" proxy boot >out 2>err || rc=$?
	cat out err
	sleep 1
	touch "$TEST_TMP/stop"
	wait $l1 $l2 || true
	test $rc = 0 &&
	grep_q out "^$h: berth-proxy started \($IMAGE\) with kamal-proxy.s routes, and took its ports" &&
	cat "$TEST_TMP/load1" "$TEST_TMP/load2" >all &&
	total=$(grep -c "^|" all) && failed=$(grep -c "^failed" all || true) &&
	echo "# requests (each a new connection) while the ports moved: $total, refused: $failed" >"$TEST_TMP/moved" &&
	sort all | uniq -c &&
	test "$total" -gt 20 &&
	# connections refused while the ports move (curl: 000), and no error answered
	! grep "^|" all | grep -vE "^\|(200|000)$" &&
	on_sh "$h" "docker inspect --format \"{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}\" kamal-proxy" >kst &&
	test "$(cat kst)" = "exited no" &&
	on_sh "$h" "docker exec berth-proxy berth-proxy list" >list &&
	cat list &&
	grep_q list "^$T-web +$T.example " &&
	curl -sf -H "Host: $T.example" "http://$addr:80/" >body &&
	grep -q "version=k1" body &&
	on_sh "$h" "docker inspect --format \"{{.HostConfig.NetworkMode}}\" berth-proxy-ports" >mode &&
	test "$(cat mode)" = host
'

cat "$TEST_TMP/moved" 2>/dev/null
test_done
