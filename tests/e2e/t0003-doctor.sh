#!/usr/bin/env bash
# berth doctor against real hosts: a healthy one, and one with a planted
# listener on port 80 and a nearly full Docker data root.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
h1=${hosts[0]}
h3=${hosts[2]}
ssh_opts=(--ssh-config "$LAB_SSH_CONFIG")
ns3=$LAB_H3_NS
root3=$LAB_H3_DATA_ROOT

# Earlier tests may have left berth-proxy on ports 80 and 443 (its ports held
# by berth-proxy-ports): out of the way while this file plants its own
# listener, started again at the end, the holder first.
for h in "$h1" "$h3"; do
	for c in berth-proxy berth-proxy-ports; do
		if "$BERTH" server exec -h "$h" "${ssh_opts[@]}" -- docker stop "$c" >/dev/null 2>&1; then
			test_cleanup "\"$BERTH\" server exec -h $h ${ssh_opts[*]} -- docker start $c"
		fi
	done
done

test_expect_success 'a healthy host: docker is running and every check is there' '
	"$BERTH" doctor -h "$h1" "${ssh_opts[@]}" >"$TEST_TMP/out" 2>&1 || true
	cat "$TEST_TMP/out"
	for c in ssh docker disk memory load clock ports logs; do
		grep_q "$TEST_TMP/out" "^  (ok|WARN|FAIL) +$c " || exit 1
	done
	grep_q "$TEST_TMP/out" "^  ok +docker +[0-9.]+.* running" &&
	grep_q "$TEST_TMP/out" "^  ok +ports +80: free; 443: free"
'

test_expect_success 'the memory check sees the app containers running' '
	"$BERTH" server exec -h "$h1" "${ssh_opts[@]}" -- docker run -d --name "$T-app" \
		berth-testapp:latest >/dev/null &&
	test_cleanup "\"$BERTH\" server exec -h $h1 ${ssh_opts[*]} -- docker rm -f $T-app"
	"$BERTH" doctor -h "$h1" "${ssh_opts[@]}" >"$TEST_TMP/out" 2>&1 || true
	grep_q "$TEST_TMP/out" "memory .*the largest .$T-app. [0-9.]+ (B|KiB|MiB)"
'

test_expect_success 'plant a listener on port 80 and fill the data root of a host' '
	"$LAB" exec h3 fuser -s -k -n tcp 80 || true
	ln -s "$(command -v busybox)" "$TEST_TMP/httpd" &&
	mkdir -p "$TEST_TMP/www" &&
	"$LAB" exec h3 "$TEST_TMP/httpd" -f -p 80 -h "$TEST_TMP/www" &
	test_cleanup "\"$LAB\" exec h3 fuser -s -k -n tcp 80"
	size=$("$LAB" exec h3 df -Pk "$root3" | awk "NR==2 {print \$2}")
	avail=$("$LAB" exec h3 df -Pk "$root3" | awk "NR==2 {print \$4}")
	fill=$((avail - size * 5 / 100))
	"$LAB" exec h3 fallocate -l "${fill}K" "$root3/$T-filler"
	test_cleanup "$LAB exec h3 rm -f $root3/$T-filler"
	for i in $(seq 50); do "$LAB" exec h3 ss -Hltn | grep -q ":80 " && break; sleep 0.1; done
	"$LAB" exec h3 ss -Hltn | grep -q ":80 "
'

test_expect_success 'doctor names the listener and the full disk, and fails' '
	! "$BERTH" doctor -h "$h3" "${ssh_opts[@]}" >"$TEST_TMP/out" 2>&1 &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "NOT READY" &&
	grep_q "$TEST_TMP/out" "^  FAIL +ports +80: taken by .httpd. \(pid [0-9]+\)" &&
	grep_q "$TEST_TMP/out" "^  FAIL +disk .*[0-9]+% free .*below 10%"
'

test_expect_success 'the same findings in JSON' '
	! "$BERTH" doctor --json -h "$h3" "${ssh_opts[@]}" >"$TEST_TMP/out.json" &&
	python3 - "$TEST_TMP/out.json" <<-PY
	import json, sys
	doc = json.load(open(sys.argv[1]))
	assert doc["status"] == "fail", doc
	checks = {c["name"]: c for c in doc["hosts"][0]["checks"]}
	assert checks["ports"]["status"] == "fail" and "httpd" in checks["ports"]["detail"], checks
	assert checks["disk"]["status"] == "fail", checks
	assert checks["docker"]["status"] == "ok", checks
	PY
'

test_expect_success 'a lower threshold lets the disk pass' '
	"$BERTH" doctor -h "$h3" "${ssh_opts[@]}" --min-free-disk 1 >"$TEST_TMP/out" 2>&1 || true
	grep_q "$TEST_TMP/out" "^  ok +disk "
'

test_expect_success 'three hosts at once, one report each' '
	! "$BERTH" doctor --json -h "$(IFS=,; echo "${hosts[*]:0:3}")" "${ssh_opts[@]}" \
		>"$TEST_TMP/all.json" &&
	python3 - "$TEST_TMP/all.json" "${hosts[@]:0:3}" <<-PY
	import json, sys
	doc = json.load(open(sys.argv[1]))
	got = [h["host"] for h in doc["hosts"]]
	assert got == sys.argv[2:], got
	by = {h["host"]: h["status"] for h in doc["hosts"]}
	assert by[sys.argv[4]] == "fail", by
	PY
'

test_expect_success 'once the listener is gone and the disk freed, the host passes' '
	"$LAB" exec h3 fuser -s -k -n tcp 80 && "$LAB" exec h3 rm -f "$root3/$T-filler" &&
	for i in $(seq 50); do "$LAB" exec h3 ss -Hltn | grep -q ":80 " || break; sleep 0.1; done
	"$BERTH" doctor -h "$h3" "${ssh_opts[@]}" >"$TEST_TMP/out" 2>&1 || { cat "$TEST_TMP/out"; exit 1; }
	grep_q "$TEST_TMP/out" "^  ok +ports +80: free"
'

test_done
