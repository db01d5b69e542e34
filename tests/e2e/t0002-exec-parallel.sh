#!/usr/bin/env bash
# Many hosts at once, each its own server, with a bound on how many run together.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
hostlist=$(IFS=,; echo "${hosts[*]:0:3}")
ssh_opts=(--ssh-config "$LAB_SSH_CONFIG")

test_expect_success 'three namespaced hosts answer, each from its own dockerd' '
	test ${#hosts[@]} -ge 3 &&
	"$BERTH" server exec -h "$hostlist" "${ssh_opts[@]}" -- \
		docker info --format "{{.DockerRootDir}}" >"$TEST_TMP/out" &&
	for h in "${hosts[@]:0:3}"; do
		n=${h#lab-h}
		grep_q "$TEST_TMP/out" "^$h +\| .*/h$n/" || exit 1
	done
'

# Each host drops a marker in a shared directory, then waits until all three
# markers are there: that can only succeed when all three run at the same time.
rendezvous='mktemp "$0/m.XXXXXX" >/dev/null; i=0; while [ $(ls "$0" | wc -l) -lt 3 ]; do i=$((i+1)); [ $i -gt 100 ] && exit 9; sleep 0.1; done'

test_expect_success 'hosts run in parallel' '
	mkdir "$TEST_TMP/meet" &&
	"$BERTH" server exec -h "$hostlist" "${ssh_opts[@]}" -- sh -c "$rendezvous" "$TEST_TMP/meet" x \
		>"$TEST_TMP/out" 2>&1 || { cat "$TEST_TMP/out"; exit 1; }
'

test_expect_success 'the bound holds: with --parallel 1 they cannot meet' '
	mkdir "$TEST_TMP/meet1" &&
	! "$BERTH" server exec --parallel 1 -h "$hostlist" "${ssh_opts[@]}" -- \
		sh -c "$rendezvous" "$TEST_TMP/meet1" x 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "exited with status 9"
'

test_expect_success 'one unreachable host fails alone; the others still run' '
	! "$BERTH" server exec -h "${hosts[0]},127.0.0.1:1" "${ssh_opts[@]}" -- echo hello \
		>"$TEST_TMP/out" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/out" "^${hosts[0]} +\| hello$" &&
	grep_q "$TEST_TMP/err" "host .127\.0\.0\.1:1.: cannot connect over ssh"
'

test_done
