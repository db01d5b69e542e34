#!/usr/bin/env bash
# A deploy interrupted at any step — the CLI killed with SIGKILL, the SSH
# connection cut — leaves the old or the new version serving, and the next
# `berth deploy` finishes the job without any hand repair.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

# the new versions take 2 s to become ready: time to interrupt the switch
make_version v1
make_version v2 READY_DELAY_MS=2000
make_version v3 READY_DELAY_MS=2000
write_config

# deploy_until VERSION REGEX: starts a deploy in the background and waits for
# a line of its output matching REGEX; sets $pid (berth's process).
deploy_until() {
	local i
	(cd "$APP" && exec "$BERTH" deploy --version "$1" -P) >"dep-$1.out" 2>&1 &
	pid=$!
	for ((i = 0; i < 1200; i++)); do
		grep -qE -- "$2" "dep-$1.out" && return 0
		sleep 0.05
	done
	echo "no line /$2/ in 60 s" >&2
	return 1
}

# check_serves VERSIONS_REGEX: both hosts answer, from one of these versions.
check_serves() {
	local h v
	for h in $h1 $h2; do
		v=$(serving $h)
		echo "$h serves '$v'"
		[[ $v =~ ^($1)$ ]] || return 1
	done
}

# recovers VERSION: a plain deploy of VERSION succeeds and it serves everywhere.
recovers() {
	berth deploy --version "$1" -P >"rec-$1.out" 2>&1 || { cat "rec-$1.out"; return 1; }
	check_serves "$1" &&
	test "$(running $h1 web)" = "$T-web-$1" && test "$(running $h2 web)" = "$T-web-$1" &&
	test "$(running $h2 worker)" = "$T-worker-$1"
}

test_expect_success 'a first deploy' '
	berth setup --version v1 -P >out 2>&1 || { cat out; exit 1; }
	check_serves v1
'

for at in "deploy lock taken" "started $T-web-v2" "traffic moved to $T-web-v2" \
	"$h2 web: started $T-web-v2"; do
	test_expect_success "SIGKILL after '$at': old or new serves, the next deploy completes" '
		deploy_until v2 "$at" || { kill -9 $pid; exit 1; }
		kill -9 $pid && wait $pid 2>/dev/null || true
		cat dep-v2.out
		check_serves "v1|v2" &&
		recovers v3 &&
		berth deploy --version v1 -P >/dev/null 2>&1 && check_serves v1
	'
done

# sshd_sessions HOST: the pids of the sshd processes serving sessions on HOST.
sshd_sessions() {
	local n=${1#lab-h} master
	master=$(cat "$LAB_DIR/h$n/sshd.pid")
	pgrep -P "$master" || true
}

test_expect_success 'the SSH connection cut during the switch: old or new serves, then a deploy completes' '
	deploy_until v2 "started $T-web-v2" || { kill -9 $pid; exit 1; }
	sleep 0.3
	pids=$(sshd_sessions $h1) && test -n "$pids" &&
	kill -9 $pids &&
	{ wait $pid; echo "exit $?" >>dep-v2.out; } || true
	cat dep-v2.out &&
	grep -q "^exit [1-9]" dep-v2.out &&
	check_serves "v1|v2" &&
	recovers v3
'

# waits up to 30 s until both hosts answer from one of these versions
serves_soon() {
	local i
	for ((i = 0; i < 60; i++)); do
		check_serves "$1" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	check_serves "$1"
}

test_expect_success 'dockerd restarted during the switch on a host: old or new serves, then a deploy completes' '
	test_cleanup "$LAB up >/dev/null 2>&1"
	deploy_until v2 "$h2 web: started $T-web-v2" || { kill -9 $pid; exit 1; }
	dpid=$(cat "$LAB_DIR/h2/docker.pid") &&
	kill -TERM $dpid &&
	{ wait $pid; echo "exit $?" >>dep-v2.out; } || true
	cat dep-v2.out &&
	grep -q "^exit [1-9]" dep-v2.out &&
	# dockerd stops its containers first; the lab starts it again once it is gone
	for ((i = 0; i < 600; i++)); do kill -0 $dpid 2>/dev/null || break; sleep 0.1; done &&
	{ "$LAB" up >lab.out 2>&1 || { cat lab.out; exit 1; }; } &&
	# the previous test left v3 serving: h1 switched to v2, h2 stayed on v3 or got v2
	serves_soon "v2|v3" &&
	recovers v1
'

test_expect_success 'a lock left by a killed deploy is broken by the next one and shown by lock status' '
	deploy_until v2 "deploy lock taken" || { kill -9 $pid; exit 1; }
	kill -9 $pid && wait $pid 2>/dev/null || true
	berth lock status >status 2>&1 || true
	cat status &&
	grep -q "gone" status &&
	recovers v2
'

test_done
